"""Where a case's baseline lives, how it is named, read and written (no pytest, no syrupy).

One JSON file per case: ``<root>/<alias>/<suite module>/<suite test>[<parameter id>].json``
(the layout syrupy's single-file extension uses, so the pytest layer's syrupy binding and
a script agree on every path). ``alias`` is the model spec's name unless one is chosen.
"""

from __future__ import annotations

import os
import re
import shlex
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_fgbmk.baselines.record import dump_record
from pytest_fgbmk.errors import ConfigError

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
        """The file's text; None when it does not exist; a marker text when unreadable."""
        try:
            return path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            return f"<unreadable: {exc}>"

    @staticmethod
    def write(path: Path, record: dict[str, Any]) -> bool:
        """Write ``record`` atomically; True when the file changed."""
        text = dump_record(record)
        if BaselineStore.read(path) == text:
            return False
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
