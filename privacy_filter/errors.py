"""Errors a user can act on. The CLI prints their message as one line on stderr and exits 1."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator


class UserError(Exception):
    """A problem with the user's input, files or machine, explained in one line (no traceback)."""


class ModelError(UserError):
    """A model file is missing, corrupt or does not load."""


class SourceError(UserError):
    """A camera or input file cannot be opened or read."""


class SinkError(UserError):
    """An output file or device cannot be written."""


def one_line(message: str) -> str:
    """``message`` made safe to print as one line: newlines and other control characters (which a file name
    may hold) are shown escaped, as Python would in a string literal. A byte of a file name that is not UTF-8
    (which Python holds as a lone surrogate, U+DC80..U+DCFF) is shown as that byte, ``\\xfe``, not as the
    surrogate ``\\udcfe`` nobody would recognise."""
    if message.isprintable():
        return message
    return "".join(ch if ch.isprintable() else _escaped(ch) for ch in message)


def _escaped(ch: str) -> str:
    if 0xDC80 <= ord(ch) <= 0xDCFF:  # os.fsdecode's surrogateescape: the byte it stands for
        return f"\\x{ord(ch) - 0xDC00:02x}"
    return repr(ch)[1:-1]


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Silence what C/C++ libraries print straight to file descriptor 2 inside the block (libprotobuf's
    parse errors while OpenCV loads a broken model, say): the user gets our one-line message instead.
    PRIVACY_FILTER_DEBUG=1 keeps it."""
    if os.environ.get("PRIVACY_FILTER_DEBUG"):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
