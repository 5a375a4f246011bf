"""Errors a user can act on. The CLI prints their message as one line on stderr and exits 1."""


class UserError(Exception):
    """A problem with the user's input, files or machine, explained in one line (no traceback)."""


class ModelError(UserError):
    """A model file is missing, corrupt or does not load."""


class SourceError(UserError):
    """A camera or input file cannot be opened or read."""


class SinkError(UserError):
    """An output file or device cannot be written."""
