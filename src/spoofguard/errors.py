"""The one exception type for errors a user can cause.

Anything a user can get wrong (a bad path, an unreadable image, a file that is not a model bundle,
an impossible option) raises :class:`SpoofguardError` with a message that says what to do. The CLI
prints the message without a traceback and exits with status 2.
"""


class SpoofguardError(Exception):
    """A problem with the user's input, explained in the message."""


class PredictionFailed(SpoofguardError):
    """The capture was read, but the model could not score it (e.g. a colour picture for a fingerprint
    model, or a model whose output is not a finite probability). A video's frames that decode but
    cannot be scored raise this too, so a caller can tell it from an unreadable file."""
