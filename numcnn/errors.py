"""Exceptions shared across numcnn."""


class UserError(Exception):
    """A mistake in what the user asked for (bad path, unknown name, bad value).

    The CLI prints its message on one line and exits non-zero, without a traceback.
    """


def load_error_reason(exc: BaseException) -> str:
    """Why ``np.load(..., allow_pickle=False)`` failed, in words for a user.

    NumPy answers a file that is not an .npy/.npz (random bytes, or one holding Python objects)
    by suggesting ``allow_pickle=True``; numcnn never loads pickles, so that advice is replaced.
    """
    text = str(exc)
    if "pickle" in text:
        return "not a NumPy .npy/.npz file, or one holding Python objects, which numcnn never loads"
    return text or type(exc).__name__
