"""Progress: rich's live bar on a terminal; in a log, a line at most every 10 s or 10%."""

import io

import pytest

from validate.experiments.progress import LOG_INTERVAL_SECONDS, Progress, format_duration


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize(
    "seconds, text", [(0, "0:00"), (59.6, "1:00"), (3599, "59:59"), (3600, "1:00:00"), (-3, "0:00")]
)
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


def run(progress, clock, steps, seconds_each):
    for index in range(steps):
        progress.start(f"c{index}")
        clock.now += seconds_each
        progress.advance(f"c{index}")


def test_eta_is_the_mean_time_per_measured_configuration_times_those_left():
    clock = FakeClock()
    progress = Progress(10, stream=io.StringIO(), clock=clock)
    assert progress.eta_seconds() is None
    run(progress, clock, 2, 3.0)
    assert progress.eta_seconds() == pytest.approx(3.0 * 8)


def test_skipped_configurations_count_as_done_but_not_towards_the_rate():
    clock = FakeClock()
    progress = Progress(10, skipped=6, stream=io.StringIO(), clock=clock)
    run(progress, clock, 2, 5.0)
    assert (progress.done, progress.measured) == (8, 2)
    assert progress.eta_seconds() == pytest.approx(5.0 * 2)  # 6 skipped ones would make it 2.0


def test_a_log_gets_a_line_per_tenth_of_the_work_not_per_update():
    clock, log = FakeClock(), io.StringIO()
    with Progress(200, stream=log, clock=clock) as progress:
        run(progress, clock, 200, 0.01)
    lines = log.getvalue().splitlines()
    assert len(lines) == 10  # 20, 40, ..., 200 of 200
    assert lines[0].startswith("progress: 20/200 (10%) elapsed 0:00") and "ETA" in lines[0]
    assert lines[-1].startswith("progress: 200/200 (100%)") and "ETA" not in lines[-1]


def test_a_log_gets_a_line_every_ten_seconds_when_the_work_is_slow():
    clock, log = FakeClock(), io.StringIO()
    progress = Progress(1000, stream=log, clock=clock)
    run(progress, clock, 40, LOG_INTERVAL_SECONDS / 4)  # 100 s in all, 4% of the work
    assert len(log.getvalue().splitlines()) == 10


def test_a_terminal_gets_rich_s_live_bar_with_i_of_n_and_the_label():
    terminal = Terminal()
    with Progress(4, skipped=1, stream=terminal) as progress:
        progress.start("conv5x5-f16")
        progress.advance("conv5x5-f16")
        assert progress._bar is not None
    drawn = terminal.getvalue()
    assert "2/4" in drawn and "conv5x5-f16" in drawn and "progress:" not in drawn


def test_nothing_to_do_is_complete():
    log = io.StringIO()
    with Progress(3, skipped=3, stream=log) as progress:
        assert progress.eta_seconds() is None
    assert log.getvalue() == "progress: 3/3 (100%) already stored, 0 to measure\n"


@pytest.mark.parametrize(
    "arguments, error",
    [
        ({"total": -1}, "total must be a whole number >= 0"),
        ({"total": 2.5}, "total must be a whole number >= 0"),
        ({"total": True}, "total must be a whole number >= 0"),
        ({"total": 3, "skipped": 4}, "skipped must be a whole number from 0 to total"),
        ({"total": 3, "skipped": -1}, "skipped must be a whole number from 0 to total"),
    ],
)
def test_constructor_checks_its_arguments(arguments, error):
    with pytest.raises(ValueError, match=error):
        Progress(stream=io.StringIO(), **arguments)


def test_counting_past_the_total_is_refused():
    progress = Progress(1, stream=io.StringIO())
    progress.advance("a")
    with pytest.raises(ValueError, match="past the total of 1"):
        progress.advance("b")
    assert progress.done == 1
