"""Where a case's baseline lives, how it is named, read and written (no pytest, no syrupy).

One JSON file per case: ``<root>/<alias>/<suite module>/<suite test>[<parameter id>].json``
(the layout syrupy's single-file extension uses, so the pytest layer's syrupy binding and
a script agree on every path). ``alias`` is the model spec's name unless one is chosen.
"""

from __future__ import annotations

import codecs
import os
import re
import shlex
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_fgbmk.baselines.record import REWRITE_HINT, dump_record
from pytest_fgbmk.errors import ConfigError, DataFormatError

UPDATE_FLAG = "--fgbmk-update-baselines"
SUFFIX = ".json"


def default_alias(model_spec: str) -> str:
    """The baseline alias of a model spec: ``oracle``, ``hf-llava-1.5``, ``probe-efficientnet-lite0``."""
    spec = model_spec.rstrip("/\\")
    prefix, sep, rest = spec.partition(":")
    if sep and ("/" in rest or "\\" in rest):
        spec = prefix + ":" + re.split(r"[/\\]", rest)[-1]
    return re.sub(r"[^A-Za-z0-9._-]+", "-", spec.replace(":", "-")).strip("-") or "model"


def check_alias(alias: str) -> str:
    """``alias`` if it is a valid folder name; :class:`ConfigError` naming the option otherwise."""
    if not re.fullmatch(r"[A-Za-z0-9._-]+", alias) or alias in (".", ".."):
        raise ConfigError(
            f"--fgbmk-baseline-alias={alias!r}: use letters, digits, '.', '_' or '-' "
            "(it names the folder baselines/<alias>/)"
        )
    return alias


def parse_rate(value: Any, option: str, low: float, high: float) -> float:
    """``value`` as a float in [low, high]; :class:`ConfigError` naming ``option`` otherwise."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{option}={value!r} is not a number") from None
    if not low <= x <= high:
        raise ConfigError(f"{option}={value!r} must be between {low:g} and {high:g}")
    return x


def update_command(invocation_args: Sequence[str]) -> str:
    """The command that reruns this invocation and writes its baselines."""
    args = [a for a in invocation_args if a not in (UPDATE_FLAG, "--snapshot-update")]
    return "pytest " + " ".join(shlex.quote(str(a)) for a in [*args, UPDATE_FLAG])


def plan_command(invocation_args: Sequence[str], drop: float = 5.0) -> str:
    """This invocation as a ``--fgbmk-plan`` run (no limit, no update, no xdist): the
    command that prints the ``--fgbmk-limit`` detecting a ``drop``-point drop."""
    skip_next = False
    args = []
    for a in invocation_args:
        if skip_next:
            skip_next = False
            continue
        if a in ("--fgbmk-limit", "-n", "--numprocesses"):
            skip_next = True
            continue
        if a.startswith(("--fgbmk-limit=", "--fgbmk-plan", "-n", "--numprocesses=")) or a in (
            UPDATE_FLAG,
            "--snapshot-update",
        ):
            continue
        args.append(a)
    return "pytest " + " ".join(shlex.quote(str(a)) for a in [*args, f"--fgbmk-plan={drop:g}"])


#: A ``-k`` identifier (pytest's keyword-expression grammar).
_K_IDENT = re.compile(r"[\w:+\-.\[\]\\/]+")


def keyword_for(path: Path | str) -> str:
    """The ``-k`` expression selecting exactly the test whose baseline is ``path``.

    A baseline's file name is its test's name (``test_attribute[cub-wing_color-tf].json``);
    ``-k`` matches a name's substring, and the closing bracket keeps
    ``test_x[cub]`` from also selecting ``test_x[cub-genus]``. Characters the ``-k``
    grammar does not accept split the name into parts that must all match.
    """
    stem = Path(path).name.removesuffix(SUFFIX)
    return " and ".join(_K_IDENT.findall(stem)) or stem


def scoped_update_command(command: str, keywords: Sequence[str]) -> str:
    """``command`` (an :func:`update_command`) limited to the tests ``keywords`` select.

    The invocation's own ``-k`` is replaced (a case it reported was selected by it).
    """
    args = shlex.split(command)
    out: list[str] = []
    skip = False
    for a in args:
        if skip:
            skip = False
            continue
        if a == "-k":
            skip = True
            continue
        if a.startswith("-k") and not a.startswith("--"):
            continue
        out.append(a)
    expr = " or ".join(f"({k})" if " and " in k and len(keywords) > 1 else k for k in keywords)
    at = out.index(UPDATE_FLAG) if UPDATE_FLAG in out else len(out)
    out[at:at] = ["-k", expr]
    return " ".join(shlex.quote(a) for a in out)


@dataclass(frozen=True)
class BaselineStore:
    """The baselines of one model alias under ``root`` (``root/alias/…``)."""

    root: Path
    alias: str

    def path(self, suite: tuple[str, str], param_id: str) -> Path:
        """The file of a suite test's parameter: ``root/alias/module/test[param].json``."""
        module, test = suite
        return self.root / self.alias / module / f"{test}[{param_id}]{SUFFIX}"

    @staticmethod
    def read(path: Path) -> str | None:
        """The file's text; None when it does not exist.

        :class:`DataFormatError` naming the file and saying why when it cannot be read as
        a baseline's text (:func:`decode_baseline`; a folder in its place; the OS refuses).
        """
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except IsADirectoryError:
            raise DataFormatError(path, FOLDER, hint=REWRITE_HINT) from None
        except OSError as exc:
            reason = f"unreadable: {exc.strerror or exc}"
            raise DataFormatError(path, reason, hint=REWRITE_HINT) from None
        return decode_baseline(data, path)

    @staticmethod
    def make_room(path: Path) -> None:
        """Clear ``path`` for a new baseline: an empty folder in its place is removed.

        :class:`DataFormatError` when a folder holding files is there (it is never
        deleted: the user moves it away). A file, whatever it holds, is left for the
        write to replace.
        """
        if path.is_dir() and not path.is_symlink():
            try:
                path.rmdir()
            except OSError:
                raise DataFormatError(
                    path,
                    "is a folder holding files, not a baseline file",
                    hint="move it away, then rerun the command to write the baseline",
                ) from None

    @staticmethod
    def write(path: Path, record: dict[str, Any]) -> bool:
        """Write ``record`` atomically; True when the file changed.

        A corrupt or undecodable file is overwritten, an empty folder in its place
        removed; :class:`DataFormatError` for a folder holding files (:meth:`make_room`).
        """
        text = dump_record(record)
        try:
            if BaselineStore.read(path) == text:
                return False
        except DataFormatError:
            BaselineStore.make_room(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=SUFFIX)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return True


#: What a folder standing where a baseline file belongs is reported as.
FOLDER = "a folder, not a file"
#: How many leading bytes :func:`decode_baseline` inspects for UTF-16 without a byte-order mark.
_SNIFF = 64


def decode_baseline(data: bytes, path: Path) -> str:
    """``data`` (a baseline file's bytes) as text; :class:`DataFormatError` naming ``path``
    and the reason when it is not what a baseline is written as (UTF-8, no byte-order mark).

    The reasons: ``UTF-16 text, not UTF-8`` (a UTF-16 byte-order mark, or ASCII text with
    every other byte NUL: ``iconv -t utf-16``, an editor's "Unicode" save); ``binary data,
    not UTF-8 JSON text`` (other NUL bytes); ``UTF-8 with a byte-order mark``; ``not UTF-8
    text: byte 0xNN`` with its line (a Latin-1 or other 8-bit byte).
    """
    head = data[:_SNIFF]
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or _utf16_without_bom(head):
        raise DataFormatError(
            path, "UTF-16 text, not UTF-8 (saved re-encoded)", line=1, hint=REWRITE_HINT
        )
    if b"\0" in data:
        at = data.index(b"\0")
        line = data.count(b"\n", 0, at) + 1
        raise DataFormatError(
            path, "binary data, not UTF-8 JSON text", line=line, hint=REWRITE_HINT
        )
    if data.startswith(codecs.BOM_UTF8):
        raise DataFormatError(
            path,
            "UTF-8 with a byte-order mark (an editor added it; baselines have none)",
            line=1,
            hint=REWRITE_HINT,
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DataFormatError(
            path,
            f"not UTF-8 text: byte 0x{data[exc.start]:02x} (Latin-1 or another 8-bit encoding?)",
            line=line,
            hint=REWRITE_HINT,
        ) from None


def _utf16_without_bom(head: bytes) -> bool:
    """Whether ``head`` looks like ASCII text in UTF-16 with no byte-order mark: an even
    length of at least 4 bytes, one of the two byte positions all NUL, the other none."""
    if len(head) < 4:
        return False
    head = head[: len(head) // 2 * 2]
    even, odd = head[0::2], head[1::2]
    return (not any(odd) and all(even)) or (not any(even) and all(odd))
