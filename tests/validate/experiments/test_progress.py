"""Tests of validate.experiments.progress, driven by a fake clock."""

import io

import pytest

from validate.experiments.progress import Progress, format_duration


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class TerminalStream(io.StringIO):
    """A StringIO that claims to be a terminal."""

    def isatty(self):
        return True


def make_progress(total, stream=None, width=10):
    clock = FakeClock()
    stream = io.StringIO() if stream is None else stream
    return Progress(total, stream=stream, clock=clock, width=width), clock, stream


@pytest.mark.parametrize(
    "seconds, text",
    [(0, "0:00"), (12.4, "0:12"), (59.6, "1:00"), (725, "12:05"), (3600, "1:00:00"),
     (3723, "1:02:03"), (-0.2, "0:00")],
)
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


def test_eta_is_the_mean_time_per_measured_configuration_times_those_left():
    progress, clock, stream = make_progress(4)

    progress.start("conv3x3 f=16 graph")
    clock.now = 10.0
    progress.advance()
    progress.start("conv5x5 f=16 graph")
    clock.now = 30.0
    progress.advance()

    # 30 s for 2 configurations: 15 s each, 2 left.
    assert progress.eta_seconds() == 30.0
    assert stream.getvalue().splitlines() == [
        "[..........]  0/4   0%  elapsed 0:00  ETA ?  conv3x3 f=16 graph",
        "[##........]  1/4  25%  elapsed 0:10  ETA 0:30  conv3x3 f=16 graph",
        "[##........]  1/4  25%  elapsed 0:10  ETA 0:30  conv5x5 f=16 graph",
        "[#####.....]  2/4  50%  elapsed 0:30  ETA 0:30  conv5x5 f=16 graph",
    ]


def test_skipped_configurations_count_as_done_but_not_towards_the_rate():
    progress, clock, stream = make_progress(4)

    progress.skip(2)
    clock.now = 5.0
    progress.start("conv3x3")
    clock.now = 15.0
    progress.advance()

    # One measured configuration took 10 s and one is left.  Counting the two
    # skipped ones would give 15 s / 3 = 5 s.
    assert (progress.done, progress.skipped, progress.measured) == (3, 2, 1)
    assert progress.eta_seconds() == 10.0
    assert stream.getvalue().splitlines()[0] == (
        "[#####.....]  2/4  50%  elapsed 0:00  ETA ?  skipped 2 already measured")
    assert stream.getvalue().splitlines()[-1].startswith(
        "[#######...]  3/4  75%  elapsed 0:15  ETA 0:10")


def test_advance_without_start_times_from_creation():
    progress, clock, _ = make_progress(3)

    clock.now = 6.0
    progress.advance("conv1x1")

    assert progress.eta_seconds() == 12.0


def test_not_a_terminal_writes_one_line_per_update_and_finishes_with_the_total_time():
    progress, clock, stream = make_progress(2)

    progress.skip(1)
    progress.start("conv3x3")
    clock.now = 65.0
    progress.advance()
    progress.finish()
    progress.finish()  # a second call prints nothing

    lines = stream.getvalue().split("\n")
    assert "\r" not in stream.getvalue()
    assert lines[-1] == ""  # ends with a newline
    assert len(lines[:-1]) == 4
    assert lines[-2] == "[##########]  2/2 100%  total 1:05  (1 skipped as already measured)"


def test_a_terminal_redraws_one_line_in_place(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # wide enough that nothing is cut
    progress, clock, stream = make_progress(2, stream=TerminalStream())

    progress.start("a long configuration label")
    clock.now = 4.0
    progress.advance()
    progress.start("short")
    assert "\n" not in stream.getvalue()
    progress.finish()

    output = stream.getvalue()
    drawn = output.split("\r")[1:]
    assert output.startswith("\r") and output.endswith("\n") and output.count("\n") == 1
    assert len(drawn) == 4
    # A shorter line is padded with spaces to erase the longer one before it.
    assert len(drawn[2]) == len(drawn[1]) and drawn[2].rstrip().endswith("short")


def test_a_terminal_line_is_cut_to_the_terminal_width(monkeypatch):
    monkeypatch.setenv("COLUMNS", "40")
    progress, _, stream = make_progress(2, stream=TerminalStream())

    progress.start("x" * 100)

    assert len(stream.getvalue()) == len("\r") + 39


def test_the_context_manager_finishes_even_after_an_error():
    stream = TerminalStream()

    with pytest.raises(RuntimeError):
        with Progress(3, stream=stream, clock=FakeClock()) as progress:
            progress.start("conv3x3")
            raise RuntimeError("measuring failed")

    final_line = stream.getvalue().split("\r")[-1]
    assert final_line.endswith("\n") and final_line.rstrip().endswith("total 0:00")


def test_nothing_to_do_is_complete():
    progress, _, stream = make_progress(0)

    progress.finish()

    assert progress.eta_seconds() == 0.0
    assert stream.getvalue() == "[##########]  0/0 100%  total 0:00\n"


@pytest.mark.parametrize(
    "steps",
    [
        [("advance",), ("advance",), ("advance",)],
        [("skip", 2), ("advance",)],
        [("skip", 3)],
    ],
)
def test_counting_past_the_total_is_refused(steps):
    progress, _, _ = make_progress(2)

    with pytest.raises(ValueError, match=r"more than total \(2\)"):
        for method, *arguments in steps:
            getattr(progress, method)(*arguments)


@pytest.mark.parametrize(
    "arguments, error",
    [
        ({"total": -1}, ValueError),
        ({"total": 2.0}, TypeError),
        ({"total": True}, TypeError),
        ({"total": 3, "width": 0}, ValueError),
    ],
)
def test_constructor_checks_its_arguments(arguments, error):
    with pytest.raises(error):
        Progress(stream=io.StringIO(), **arguments)


def test_skip_refuses_a_negative_count():
    progress, _, _ = make_progress(2)

    with pytest.raises(ValueError, match="count must be >= 0"):
        progress.skip(-1)
