"""Reading dataset metadata files line by line, with errors that name file:line."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

from pytest_fgbmk.errors import DataFormatError


def require_file(path: Path, what: str) -> Path:
    """Return ``path`` if it is a file, else raise naming it and what it should hold."""
    if not path.is_file():
        raise DataFormatError(path, f"missing: expected {what}")
    return path


#: What to do with a metadata file that is not UTF-8 (the loaders read UTF-8 only).
NOT_UTF8_HINT = "save it as UTF-8, e.g. iconv -f latin1 -t utf-8 FILE > NEW, and rerun"


def read_text(path: Path) -> str:
    """The whole of a UTF-8 text file (a byte-order mark dropped); every failure is a
    :class:`DataFormatError` naming the file: missing, unreadable (permissions, a folder
    in its place: the OS's reason), or not UTF-8 (with the line and column of the first
    byte that is not, and how to convert it)."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise DataFormatError(path, "file is missing") from None
    except OSError as e:
        reason = e.strerror or type(e).__name__
        raise DataFormatError(
            path,
            f"cannot be read: {reason}",
            hint="make it a file the user running the tests can read "
            "(check its permissions and owner), then rerun",
        ) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise DataFormatError(
            path,
            f"is not UTF-8 text: byte 0x{data[e.start]:02x} at column {column} "
            "cannot be decoded (Latin-1 or another legacy encoding?)",
            line=line,
            hint=NOT_UTF8_HINT,
        ) from None


def read_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Yield (1-based line number, stripped line) for every non-blank line of a text file
    (errors as :func:`read_text`)."""
    text = read_text(path)
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
    """Yield (line number, fields) of a CSV file (quoted fields may hold commas); errors
    as :func:`read_text`, and a malformed row names its line."""
    reader = csv.reader(io.StringIO(read_text(path), newline=""))
    try:
        for row in reader:
            if header and reader.line_num == 1:
                continue
            if not row or all(not f.strip() for f in row):
                continue
            yield reader.line_num, row
    except csv.Error as e:
        raise DataFormatError(path, f"malformed CSV: {e}", line=reader.line_num) from None
