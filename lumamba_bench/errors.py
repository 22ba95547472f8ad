"""The one exception type the CLI turns into a readable one-line error."""


class LumambaError(Exception):
    """A problem with the user's input or environment, stated in one helpful sentence."""


class RecordingError(LumambaError):
    """One recording cannot be used; preparation skips it and records the reason."""


class TrainingDiverged(LumambaError):
    """The loss stopped being finite; ``log`` holds the epochs completed before it did."""

    def __init__(self, message: str, log: list[dict] | None = None):
        super().__init__(message)
        self.log = log or []
