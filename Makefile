# Everything runs inside .venv, created from nothing on first use.
#   make report                 measure this machine (default profile) and write report/
#   make report PRESET=quick    a smaller run (about 5.5 minutes on 2 cores, LiteRT included)
#   make report FRESH=1         measure again instead of re-rendering stored results
#   make report LITERT=0        TensorFlow only, without the LiteRT fp32 and int8 runs
#   make report RESULTS=DIR     render results measured elsewhere (no measuring)
#   make retest                 measure a sample of the stored results again and add the agreement to the report
#   make test                   lint, types and the whole test suite
#   make install BACKENDS=1     also JAX and PyTorch (--backend jax|torch); CI installs them
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# PRESET (quick|default|full) says how much to measure; PROFILE is its old name, kept for one release.
PRESET ?= $(or $(PROFILE),default)
MEASURED := results/$(PRESET)
# The same preset in LiteRT (XNNPACK), float32 and int8: its own folder, calibration and profile.
# LITERT=0 leaves it out (it doubles make report's time: docs/validate.md#litert-tensorflow-lite-with-xnnpack---backend-litert).
MEASURED_LITERT := $(MEASURED)-litert
LITERT ?= 1
WITH_LITERT := $(filter-out 0,$(LITERT))
# GPU (or other machines') results committed under docs/results/ are rendered beside this machine's:
# one folder per machine, or per machine and backend (scripts/gpu_check.sh writes <gpu>/<backend>/).
COMMITTED := $(wildcard docs/results/*/metadata.json docs/results/*/*/metadata.json)
RESULTS ?=

.PHONY: install lint test test-fast bench measure report retest report-check clean

# What the report needs, plus the test and lint tools; JAX and PyTorch only when asked for.
comma := ,
EXTRAS := test,lint,validate$(if $(BACKENDS),$(comma)backends)
# One stamp per set of extras, so that BACKENDS=1 after a plain install installs the backends.
STAMP := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))
# Extra pip requirements, e.g. a CPU-only torch build: PIP_EXTRA='torch==2.13.0' (see .ci/run).
PIP_EXTRA ?=

install: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[$(EXTRAS)]' $(PIP_EXTRA)
	touch $(STAMP)

lint: install
	$(VENV)/bin/ruff check costmodel validate tests benchmarks scripts
	$(VENV)/bin/ruff format --check costmodel validate tests benchmarks scripts
	$(VENV)/bin/mypy

test: install lint
	$(PY) -m pytest

test-fast: install
	$(PY) -m pytest -m 'not slow and not tensorflow and not jax and not torch'

bench: install
	$(PY) benchmarks/bench_costmodel.py

# Measuring resumes whatever is already stored, so a second run measures nothing new.  The seed's
# experiment and the factorizations run in the same worker processes (validate sweep): one import each.
measure: install
	$(if $(FRESH),rm -rf $(MEASURED) $(MEASURED_LITERT))
	test -f $(MEASURED)/device_profile_cpu.json || \
		$(PY) -m validate calibrate --preset $(PRESET) --device all --out $(MEASURED)
	$(PY) -m validate sweep --preset $(PRESET) --device all --out $(MEASURED) --resume
	$(PY) -m validate networks --preset $(PRESET) --out $(MEASURED) --resume
	$(PY) -m validate network MobileNet --papers --out $(MEASURED)
ifneq ($(WITH_LITERT),)
	test -f $(MEASURED_LITERT)/device_profile_cpu.json || \
		$(PY) -m validate calibrate --preset $(PRESET) --backend litert --out $(MEASURED_LITERT)
	$(PY) -m validate sweep --preset $(PRESET) --backend litert --modes fp32,int8 --out $(MEASURED_LITERT) --resume
endif

ifeq ($(RESULTS),)
report: measure
	$(PY) -m validate.report --results $(MEASURED) $(if $(WITH_LITERT),--results $(MEASURED_LITERT)) \
		$(foreach m,$(COMMITTED),--results $(dir $(m))) --out report
else
report: install
	$(PY) -m validate.report $(foreach r,$(RESULTS),--results $(r)) --out report
endif

# Test-retest: a sample of the stored configurations measured again in fresh processes; the
# agreement goes to $(MEASURED)/retest.json and into the report.
retest: install
	test -f $(MEASURED)/metadata.json || { echo "no results in $(MEASURED): run make report first"; exit 2; }
	$(PY) -m validate retest $(MEASURED) --sample $(or $(SAMPLE),12)
	$(PY) -m validate.report --results $(MEASURED) $(if $(wildcard $(MEASURED_LITERT)/metadata.json),--results $(MEASURED_LITERT)) \
		$(foreach m,$(COMMITTED),--results $(dir $(m))) --out report

# A look at the page as a reader sees it: headless Chromium (Debian's chromium package).
report-check:
	test -f report/index.html || { echo "no report/index.html: run make report first"; exit 2; }
	command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium; }
	chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
		--disable-background-networking --disable-component-update --disable-sync \
		--user-data-dir=$$(mktemp -d) --hide-scrollbars --window-size=1280,4000 \
		--screenshot=report/screenshot.png file://$(CURDIR)/report/index.html
	@echo "screenshot: report/screenshot.png"

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .hypothesis report
