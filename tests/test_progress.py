"""The progress counter: one tidy line per redraw, never the same count twice in a log."""

from __future__ import annotations

import io

from privacy_filter.io.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_log_gets_each_count_once() -> None:
    log = io.StringIO()
    progress = Progress(1, stream=log)
    progress.update()  # the first frame is drawn at once
    progress.finish()  # nothing new to say
    lines = log.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("1/1 frames (100%)")


def test_a_log_gets_the_final_count_when_it_was_not_drawn_yet() -> None:
    log = io.StringIO()
    progress = Progress(3, stream=log)
    for _ in range(3):
        progress.update()  # only the first is drawn (a log redraws every 5 s at most)
    progress.finish()
    lines = log.getvalue().splitlines()
    assert [line.split(" ")[0] for line in lines] == ["1/3", "3/3"]


def test_a_terminal_line_is_redrawn_in_place_and_ended() -> None:
    screen = Terminal()
    progress = Progress(2, stream=screen, interval=0.0)
    progress.update()
    progress.update()
    progress.finish()
    text = screen.getvalue()
    assert text.count("\r") == 2 and text.endswith("\n")
    assert text.rsplit("\r", 1)[1].startswith("2/2 frames (100%)")


def test_a_count_past_an_estimated_total_is_shown_alone() -> None:
    """The total of a WebM or TS is an estimate (concatenated TS parts read 180 frames of an estimated 61):
    past it, the line shows the count alone, not "180/61 frames (100%)"."""
    progress = Progress(2, stream=io.StringIO())
    for _ in range(3):
        progress.update()
    assert progress.line().startswith("3 frames "), progress.line()
