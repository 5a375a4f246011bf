"""Stop signals: SIGINT (Ctrl-C), SIGTERM and SIGHUP (the terminal closed, SSH dropped) raise ``Interrupted``
in the main thread, so that the job in progress finishes its files cleanly.

``stop_signals_handled()`` installs the handlers for the program's run; ``signals_deferred()`` makes a block
(one frame written to both files) happen entirely or not at all; ``no_interrupts()`` keeps a second Ctrl-C
from leaving files half-written while they are being finished.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


class Interrupted(BaseException):
    """SIGINT, SIGTERM or SIGHUP (``signum``) arrived: finish the files cleanly and stop.

    A BaseException, like KeyboardInterrupt: the signal lands wherever the main thread is, often inside the
    filter, whose ``except Exception`` (fail closed) must not swallow it."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = int(signum)


class JobInterrupted(Exception):
    """A job was interrupted (by ``signum``) after its files were closed; ``delivered`` frames had gone out."""

    def __init__(self, delivered: int, signum: int = signal.SIGINT) -> None:
        super().__init__(delivered, signum)
        self.delivered = delivered
        self.signum = int(signum)


def exit_status(stop: BaseException) -> int:
    """The exit status of a run that ``stop`` (Interrupted, JobInterrupted, KeyboardInterrupt) ended: 128 plus
    the signal's number, as shells report it (130 SIGINT, 143 SIGTERM, 129 SIGHUP), so that
    ``privacy-filter ... && upload`` never goes on with half a file."""
    return 128 + int(getattr(stop, "signum", signal.SIGINT))


# The signals that stop the program cleanly. SIGHUP is what a closed terminal or a dropped SSH session sends.
STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


class _Deferral:
    """While ``depth`` > 0 a stop signal is only noted in ``pending``, and raised when the block ends."""

    depth = 0
    pending: int | None = None


def _raise_interrupted(signum: int, _frame: object) -> None:
    if _Deferral.depth:
        _Deferral.pending = _Deferral.pending or signum
        return
    raise Interrupted(signum)


@contextlib.contextmanager
def stop_signals_handled() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP raise Interrupted inside the block (in the main thread); restored after."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield
        return
    _Deferral.pending = None
    previous = {sig: signal.signal(sig, _raise_interrupted) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """A stop signal arriving inside the block is acted on when the block ends: what the block does (write a
    frame to both the output and the matte file) happens entirely or not at all."""
    _Deferral.depth += 1
    try:
        yield
    finally:
        _Deferral.depth -= 1
        # Taken in any case (an error leaving the block wins over the signal; the program stops either way).
        signum = None if _Deferral.depth else _Deferral.pending
        if signum is not None:
            _Deferral.pending = None
    if signum is not None:
        raise Interrupted(signum)


@contextlib.contextmanager
def no_interrupts() -> Iterator[None]:
    """While files are being finished, a second Ctrl-C must not leave them half-written."""
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

