"""Errors a user can act on. Each names what is wrong and how to fix it."""


class FieldError(ValueError):
    """A user-supplied value is invalid. `field` names the input (meter, key, opening, ...)."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, corrupt, unsafe or incompatible."""


class DataError(RuntimeError):
    """A data source is missing, malformed or empty."""


class RenderError(RuntimeError):
    """A conversion (MusicXML, SVG, MIDI, WAV) failed or ran past its time bound."""
