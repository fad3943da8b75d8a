"""Exceptions raised at the public boundary of keras-1x1."""


class Keras1x1Error(Exception):
    """Base class of every error keras-1x1 raises on purpose."""


class UserInputError(Keras1x1Error, ValueError):
    """The input (a model, a file, an argument) cannot be handled.

    The message is one line that names the problem; the command line prints
    it without a traceback and exits with status 2.
    """


class ConversionError(Keras1x1Error):
    """A converted model does not compute what the original computed.

    Attributes:
        max_error: the largest absolute difference seen between the outputs.
        output: the name of the output where it was seen.
        tolerance: the tolerance that was exceeded, as ``(atol, rtol)``.
        report: the `ConversionReport` of the conversion that failed, if any.
    """

    def __init__(self, message, *, max_error=None, output=None, tolerance=None):
        super().__init__(message)
        self.max_error = max_error
        self.output = output
        self.tolerance = tolerance
        self.report = None


def one_line(error, limit=300):
    """An error's text on one line, without the terminal styling (bold
    escapes) Keras puts in its messages, cut at `limit` characters."""
    import re

    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error))
    return " ".join(text.split())[:limit]
