"""Model arguments from the command line (``key=value`` pairs) and a TOML/YAML file.

The result is a plain mapping for :meth:`ModelOptions.from_mapping`: command-line values
stay strings (the options coerce them), file values keep their TOML/YAML types. Keys are
normalised (``max-new-tokens`` → ``max_new_tokens``) so the command line overrides the
file whatever spelling each uses.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pytest_fgbmk.errors import ConfigError

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_TOML_POSITION = re.compile(r"\(at line (\d+), column (\d+)\)")
PAIR_HELP = "write key=value, e.g. --fgbmk-model-arg dtype=bf16"
FILE_HELP = "the file's top level must be a table of key = value settings, e.g. dtype = 'bf16'"


def normalise_key(key: str) -> str:
    """The canonical spelling of an option key: dashes become underscores."""
    return key.strip().replace("-", "_")


def parse_pair(pair: str) -> tuple[str, str]:
    """Split one ``key=value`` string; the value may itself contain ``=`` or be empty."""
    key, sep, value = pair.partition("=")
    key = key.strip()
    if not sep or not _KEY.match(key):
        shown = pair if sep else pair[:60]
        raise ConfigError(f"--fgbmk-model-arg {shown!r} is not a key=value pair; {PAIR_HELP}")
    return normalise_key(key), value.strip()


def parse_model_args(pairs: Sequence[str], file: Path | str | None = None) -> dict[str, Any]:
    """Merge a model-args file (TOML or YAML) with ``key=value`` pairs; the pairs win.

    A repeated pair keeps its last value. Raises :class:`ConfigError` naming the pair or
    the file (and line, for a syntax error) and what to write instead.
    """
    merged: dict[str, Any] = dict(read_model_args_file(Path(file))) if file is not None else {}
    for pair in pairs:
        key, value = parse_pair(pair)
        merged[key] = value
    return merged


def read_model_args_file(path: Path) -> dict[str, Any]:
    """Read a ``.toml`` or ``.yaml``/``.yml`` file whose top level is the option keys."""
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".yaml", ".yml"):
        raise ConfigError(
            f"{path}: model-args file must end in .toml, .yaml or .yml (got {suffix or 'no suffix'!r})"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: model-args file not found; check the path") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: cannot read model-args file ({err})") from None
    data = _load_toml(path, text) if suffix == ".toml" else _load_yaml(path, text)
    return _check_table(path, data)


def _load_toml(path: Path, text: str) -> Any:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        message = str(err)
        where = _TOML_POSITION.search(message)
        line = f":{where.group(1)}" if where else ""
        detail = _TOML_POSITION.sub("", message).strip()
        raise ConfigError(
            f"{path}{line}: TOML syntax error: {detail}; write key = value lines, "
            "strings in quotes (dtype = 'bf16')"
        ) from None


def _load_yaml(path: Path, text: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(
            f"{path}{line}: YAML syntax error: {problem}; write 'key: value' lines (dtype: bf16)"
        ) from None


def _check_table(path: Path, data: Any) -> dict[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: top level is a {type(data).__name__}; {FILE_HELP}")
    out: dict[str, Any] = {}
    for key, value in data.items():
        if not isinstance(key, str) or not _KEY.match(key):
            raise ConfigError(f"{path}: key {key!r} is not a valid option name; {FILE_HELP}")
        name = normalise_key(key)
        if isinstance(value, Mapping) and name != "extra":
            raise ConfigError(
                f"{path}: {key!r} is a nested table; only 'extra' may be a table ({FILE_HELP})"
            )
        if name in out:
            raise ConfigError(f"{path}: option {name!r} is given twice (as {key!r}); keep one")
        out[name] = dict(value) if isinstance(value, Mapping) else value
    return out
