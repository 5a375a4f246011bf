"""Errors a user can act on. The CLI prints their message as one line on stderr and exits 1."""


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
    may hold) are shown escaped, as Python would in a string literal."""
    if message.isprintable():
        return message
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in message)
