"""What ``lwm2m bench`` shows on stderr while it runs: the phase, its count and rate, the
registered devices; one line rewritten on a terminal, plain lines elsewhere."""

from __future__ import annotations

import io

from lwm2m.loadtest.progress import PLAIN_INTERVAL, TTY_INTERVAL, Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_plain_lines_give_the_phase_its_count_and_the_rate_since_the_last_line() -> None:
    stream, clock, registered, done = io.StringIO(), Clock(), [0], [500]
    progress = Progress(stream, 1000, lambda: registered[0], clock)
    assert progress.interval == PLAIN_INTERVAL
    progress.begin("reading", lambda: done[0])  # counted from here: 500 belong to earlier phases
    clock.now += 5
    done[0], registered[0] = 5500, 1000
    progress.show()
    clock.now += 5
    done[0] += 2000
    progress.show()
    assert stream.getvalue().splitlines() == [
        "bench: reading, 5 s, 5,000 done (1,000/s), 1,000 registered (fleet of 1,000)",
        "bench: reading, 10 s, 7,000 done (400/s), 1,000 registered (fleet of 1,000)",
    ]


def test_a_phase_without_a_count_shows_its_time_and_the_registered() -> None:
    stream, clock = io.StringIO(), Clock()
    progress = Progress(stream, 10, lambda: 3, clock)
    clock.now += 2
    progress.show()
    assert stream.getvalue() == "bench: starting the fleet, 2 s, 3 registered (fleet of 10)\n"


def test_a_terminal_gets_one_line_rewritten_and_erased_at_the_end() -> None:
    stream, clock = Terminal(), Clock()
    progress = Progress(stream, 10, lambda: 10, clock)
    assert progress.interval == TTY_INTERVAL
    progress.show()
    progress.show()
    progress.close()
    text = stream.getvalue()
    assert "\n" not in text
    assert text.count("\r\033[K") == 3 and text.endswith("\r\033[K")


def test_an_interrupted_bench_says_where_it_stopped() -> None:
    stream = io.StringIO()
    progress = Progress(stream, 10, lambda: 4, Clock())
    progress.begin("registering")
    progress.close(interrupted=True)
    assert stream.getvalue() == (
        "lwm2m bench: interrupted while registering, 4 registered (fleet of 10)\n"
    )
