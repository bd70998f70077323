"""Exceptions shared across numcnn."""


class UserError(Exception):
    """A mistake in what the user asked for (bad path, unknown name, bad value).

    The CLI prints its message on one line and exits non-zero, without a traceback.
    """
