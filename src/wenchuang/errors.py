"""Error types shared by every layer.

Every error a user can cause is a `WenchuangError`: the CLI prints its message on one line and
exits with code 2, the HTTP API answers 400/422 with it, the UI shows it. Anything else is a bug.
"""

from __future__ import annotations


class WenchuangError(Exception):
    """Base class for errors caused by the user's input or environment (never a bug)."""


class RequestError(WenchuangError, ValueError):
    """A field of a request is invalid. `field` names it (dotted path, e.g. ``lines[2].text``)."""

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class ImageError(WenchuangError, ValueError):
    """An input image cannot be used (unreadable, wrong type, too large)."""


class ImageTooLargeError(ImageError):
    """An input image is over a byte or pixel limit (the HTTP API answers 413)."""


class FontError(RequestError):
    """A font cannot be loaded, or cannot draw some characters of a line."""


class ModelError(WenchuangError):
    """Model weights are missing, incomplete or of the wrong kind."""
