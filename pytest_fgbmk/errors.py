"""Errors a user can cause and fix: each says what was wrong, where, and what to do."""

from __future__ import annotations

from pathlib import Path


class FgbmkError(Exception):
    """Base of every error this package raises on purpose (bad input, bad option, bad file)."""


class DataFormatError(FgbmkError):
    """A dataset file does not have the layout its loader expects."""

    def __init__(
        self, path: str | Path, message: str, *, line: int | None = None, hint: str = ""
    ) -> None:
        self.path = Path(path)
        self.line = line
        self.detail = message
        self.hint = hint
        where = f"{self.path}:{line}" if line is not None else str(self.path)
        text = f"{where}: {message}"
        if hint:
            text += f" ({hint})"
        super().__init__(text)


class ConfigError(FgbmkError):
    """An option, spec or argument given by the user is not valid."""


class ModelError(FgbmkError):
    """A model could not be found, loaded or run as asked."""
