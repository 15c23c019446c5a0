"""Fuzzing the command line: whatever the arguments or the device profile, one of two outcomes.

Either exit status 0 with output of the kind asked for (strict JSON with --json, CSV with --csv),
or exit status 2 with exactly one line on stderr; within a time bound, and never a traceback.
``main`` runs in this process, for speed; tests/costmodel/test_cli_limits.py runs the cases that
need a real process (signals, FIFOs, /dev/zero).
"""

import contextlib
import csv
import io
import json
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from costmodel.cli import main
from costmodel.schemes import SCHEMES

FUZZ_SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SECONDS_PER_RUN = 15  # the slowest allowed query (a 64-wide symbolic stack) takes about 4 s


def mostly(good: st.SearchStrategy, bad: st.SearchStrategy) -> st.SearchStrategy:
    """Good values four times in five, so that most runs get past the parser and compute something."""
    return st.integers(0, 4).flatmap(lambda draw: bad if draw == 4 else good)


TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=10)
GOOD_NUMBER = st.integers(1, 64).map(str)
BAD_NUMBER = st.one_of(st.integers(-2, 0).map(str), st.integers(0, 10**20).map(str), TEXT)
NUMBER = mostly(GOOD_NUMBER, BAD_NUMBER)
NUMBER_LIST = st.one_of(
    NUMBER,
    st.lists(st.integers(1, 10**12), min_size=1, max_size=3).map(lambda values: ",".join(map(str, values))),
    st.tuples(st.integers(0, 400), st.integers(0, 400)).map(lambda bounds: f"{bounds[0]}-{bounds[1]}"),
)
GOOD_KERNEL = st.one_of(st.integers(1, 11).map(str), st.sampled_from(["5x5", "1x7", "7x1", "2x3", "3×5"]))
KERNEL = mostly(GOOD_KERNEL, st.one_of(st.sampled_from(["0", "5x", "65", "9" * 25]), TEXT))
GOOD_SCHEME = st.sampled_from([*SCHEMES, "stack+asymmetric"])
SCHEME = mostly(GOOD_SCHEME, st.one_of(st.just("bogus"), TEXT))
PADDING = mostly(st.sampled_from(["same", "valid", "1", "2,0"]), st.one_of(st.sampled_from(["-1", "full"]), TEXT))


def options(sizes: st.SearchStrategy) -> st.SearchStrategy:
    """Some of the layer, scheme and limit options, each with a good or bad value."""
    named = {
        "--c-in": sizes,
        "--c-out": sizes,
        "--mid": sizes,
        "--height": sizes,
        "--width": sizes,
        "--batch": sizes,
        "--stride": NUMBER,
        "--dilation": NUMBER,
        "--groups": NUMBER,
        "--padding": PADDING,
        "--dtype-bytes": NUMBER,
        "--m": NUMBER,
        "--multiplier": NUMBER,
        "--order": st.sampled_from(["1xk-first", "kx1-first", "diagonal"]),
        "--max-kernel": NUMBER,
    }
    flags = st.lists(st.sampled_from(["--bias", "--json", "--csv"]), max_size=2, unique=True)
    chosen = st.dictionaries(st.sampled_from(sorted(named)), st.just(None), max_size=4)
    return st.tuples(chosen, flags).flatmap(
        lambda picked: st.tuples(*[named[name].map(lambda value, name=name: [name, value]) for name in picked[0]]).map(
            lambda pairs: [item for pair in pairs for item in pair] + picked[1]
        )
    )


ARGV = st.one_of(
    st.tuples(st.just(["savings"]), KERNEL.map(lambda k: [k]), SCHEME.map(lambda s: ["--scheme", s]), options(NUMBER)),
    st.tuples(
        st.just(["sweep"]),
        st.one_of(st.just([]), NUMBER_LIST.map(lambda k: ["--kernels", k])),
        st.one_of(st.just([]), SCHEME.map(lambda s: ["--schemes", s])),
        options(NUMBER_LIST),
    ),
    st.tuples(st.just(["formula"]), KERNEL.map(lambda k: [k]), SCHEME.map(lambda s: ["--scheme", s]), options(NUMBER)),
    st.lists(TEXT, max_size=4).map(lambda words: (words,)),
).map(lambda parts: [word for part in parts for word in part])


def run(argv: list[str]) -> tuple[int, str, str, float]:
    out, err = io.StringIO(), io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = main(argv)
        except SystemExit as exit:  # --help and -h print help and exit, as argparse does
            status = exit.code if isinstance(exit.code, int) else 2
    return status, out.getvalue(), err.getvalue(), time.perf_counter() - start


def refuse_constant(name: str):
    raise AssertionError(f"{name} in JSON output")


def assert_one_of_two_outcomes(argv: list[str], status: int, out: str, err: str, seconds: float) -> None:
    assert "Traceback" not in out + err, argv
    assert seconds < SECONDS_PER_RUN, (argv, seconds)
    if status == 0:
        assert err == "" and out.strip(), argv
        if "--json" in argv:
            json.loads(out, parse_constant=refuse_constant)
        elif "--csv" in argv:
            assert list(csv.reader(io.StringIO(out))), argv
        return
    assert status == 2, (argv, status, err)
    assert out == "", argv
    assert len(err.splitlines()) == 1 and err.startswith("costmodel: error: ") and err.endswith("\n"), (argv, err)


@FUZZ_SETTINGS
@given(ARGV)
def test_any_arguments_give_an_answer_or_one_line(argv):
    assert_one_of_two_outcomes(argv, *run(argv))


PROFILE = {
    "version": 4,
    "layer_kernels": {},
    "model": "roofline",
    "kernel_factors": {},
    "calibrated_range": None,
    "call_seconds_per_byte": 0.0,
    "device": "cpu",
    "peak_flops_per_second": 1e11,
    "bandwidth_bytes_per_second": 1e10,
    "op_overhead_seconds": 1e-5,
    "call_overhead_seconds": 5e-5,
    "efficiency": {"dense": 0.5, "pointwise": 0.4, "depthwise": 0.45, "asymmetric": 0.25},
}

JSON_VALUES = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(-(10**25), 10**25), st.floats(allow_nan=False, allow_infinity=False), TEXT
    ),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(TEXT, inner, max_size=3)),
    max_leaves=8,
)
FIELDS = [*PROFILE, "efficiency.dense", "efficiency.depthwise", "extra"]


@st.composite
def profile_bytes(draw) -> bytes:
    """A profile with some fields changed to any JSON value, or JSON text cut short, or any bytes."""
    kind = draw(st.sampled_from(["mutated", "mutated", "truncated", "bytes", "tokens"]))
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    document = json.loads(json.dumps(PROFILE))
    for field in draw(st.lists(st.sampled_from(FIELDS), max_size=3)):
        target, _, inner = field.partition(".")
        if inner and isinstance(document[target], dict):  # unless an earlier change replaced it
            document[target][inner] = draw(JSON_VALUES)
        elif not inner:
            document[target] = draw(JSON_VALUES)
    text = json.dumps(document)
    if kind == "truncated":
        text = text[: draw(st.integers(0, len(text)))]
    if kind == "tokens":  # what json.dumps never writes: NaN, 1e999, huge integers, deep nesting
        token = draw(st.sampled_from(["NaN", "-Infinity", "1e999", "1" + "0" * 400, "[" * 40 + "]" * 40]))
        text = text.replace("100000000000.0", token, 1)
    return text.encode("utf-8", "surrogatepass")


@FUZZ_SETTINGS
@given(
    content=profile_bytes(),
    scheme=st.sampled_from([name for name, scheme in SCHEMES.items() if 2 in scheme.ranks]),  # for the 3x3 below
    output=st.sampled_from([[], ["--json"], ["--csv"]]),
)
def test_any_profile_gives_a_prediction_or_one_line_naming_the_file(tmp_path_factory, content, scheme, output):
    path = tmp_path_factory.mktemp("profile") / "profile.json"
    path.write_bytes(content)
    argv = [
        "predict",
        "3x3",
        "--scheme",
        scheme,
        "--c-in",
        "16",
        "--c-out",
        "32",
        "--height",
        "8",
        "--width",
        "8",
        "--device-profile",
        str(path),
        *output,
    ]
    status, out, err, seconds = run(argv)
    assert_one_of_two_outcomes(argv, status, out, err, seconds)
    if status == 2:
        assert str(path) in err  # the line names the file
    else:
        assert content.startswith(b"{")
