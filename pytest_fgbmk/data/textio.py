"""Reading dataset metadata files line by line, with errors that name file:line."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

from pytest_fgbmk.errors import DataFormatError


def require_file(path: Path, what: str) -> Path:
    """Return ``path`` if it is a file, else raise naming it and what it should hold."""
    if not path.is_file():
        raise DataFormatError(path, f"missing: expected {what}")
    return path


def read_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Yield (1-based line number, stripped line) for every non-blank line of a text file."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataFormatError(path, "file is missing") from None
    except UnicodeDecodeError as e:
        raise DataFormatError(path, f"is not UTF-8 text: {e}") from None
    for i, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line:
            yield i, line


def split_fields(path: Path, lineno: int, line: str, n: int, expected: str) -> list[str]:
    """Split a whitespace-separated line into exactly ``n`` fields (the last takes the rest)."""
    parts = line.split(maxsplit=n - 1)
    if len(parts) != n:
        raise DataFormatError(path, f"expected {expected}, got {line!r}", line=lineno)
    return parts


def parse_int(path: Path, lineno: int, value: str, what: str) -> int:
    """Parse an integer field or raise naming file:line and the field."""
    try:
        return int(value)
    except ValueError:
        raise DataFormatError(
            path, f"{what} must be an integer, got {value!r}", line=lineno
        ) from None


def read_csv_rows(path: Path, *, header: bool) -> Iterator[tuple[int, list[str]]]:
    """Yield (line number, fields) of a CSV file (quoted fields may hold commas)."""
    try:
        fh = path.open(newline="", encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataFormatError(path, "file is missing") from None
    with fh:
        reader = csv.reader(fh)
        try:
            for row in reader:
                if header and reader.line_num == 1:
                    continue
                if not row or all(not f.strip() for f in row):
                    continue
                yield reader.line_num, row
        except csv.Error as e:
            raise DataFormatError(path, f"malformed CSV: {e}", line=reader.line_num) from None
