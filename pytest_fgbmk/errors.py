"""Errors a user can cause and fix: each says what was wrong, where, and what to do."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path


def shown_path(path: str | Path) -> str:
    """``path`` as a message can print it: bytes of a name that are not UTF-8 (a folder
    named in Latin-1 on Linux, kept by Python as lone surrogates) shown as ``\\xe9``.

    Printing the raw name would itself fail (``UnicodeEncodeError``) on a UTF-8 terminal.
    """
    return os.fsencode(str(path)).decode("utf-8", "backslashreplace")


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
        shown = shown_path(self.path)
        where = f"{shown}:{line}" if line is not None else shown
        text = f"{where}: {message}"
        if hint:
            text += f" ({hint})"
        super().__init__(text)


class ConfigError(FgbmkError):
    """An option, spec or argument given by the user is not valid."""


class UnknownModelArg(ConfigError):
    """A model arg the chosen model family does not read (the message names those it does)."""


class ModelError(FgbmkError):
    """A model could not be found, loaded or run as asked."""


class ModelUnusable(ModelError):
    """A model that can answer nothing as configured (no quota, a rejected key, an unknown
    model or endpoint, a request the endpoint refuses as invalid): no retry and no smaller
    batch can succeed, so the engine does not contain it: the run stops with this one
    message."""


class DataError(FgbmkError):
    """Files a run needs are missing or broken: the run stops before it scores anything.

    ``summary``: one line (what is wrong, how many); ``items``: one line per file, of
    which the message lists the first :attr:`SHOWN` and counts the rest; ``hint``: what
    to do. A data error is never scored as the model's mistake.
    """

    SHOWN = 10

    def __init__(self, summary: str, items: Sequence[str], *, hint: str = "") -> None:
        self.summary = summary
        self.items = tuple(items)
        self.hint = hint
        lines = [summary + (":" if self.items else "")]
        lines += [f"  {item}" for item in self.items[: self.SHOWN]]
        if len(self.items) > self.SHOWN:
            lines.append(f"  … and {len(self.items) - self.SHOWN} more")
        if hint:
            lines.append(hint)
        super().__init__("\n".join(lines))
