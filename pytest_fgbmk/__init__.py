"""pytest-fgbmk: the fine-grained benchmark FG-BMK as a pytest model-regression suite."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "load_model"]


def load_model(spec: str, **model_args):
    """Load a model adapter from a spec such as ``hf:PATH``, ``timm:NAME`` or ``oracle``."""
    from pytest_fgbmk.models.registry import load_model as _load

    return _load(spec, **model_args)
