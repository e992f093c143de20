"""Model options: what ``--fgbmk-model-arg k=v`` and a model-args file can set, validated."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pytest_fgbmk.errors import ConfigError

DEVICES_HELP = "auto, cpu, cuda or cuda:N"
DTYPES = ("auto", "bf16", "fp16", "fp32")


@dataclass(frozen=True)
class ModelOptions:
    """Settings shared by every adapter; ``extra`` holds family-specific keys.

    ``batch_size`` None means the adapter's own default. ``image_size`` overrides the
    preprocessing resolution where the family allows it (e.g. Qwen2.5-VL's max pixels).
    """

    device: str = "auto"
    dtype: str = "auto"
    batch_size: int | None = None
    max_new_tokens: int = 32
    image_size: int | None = None
    system_prompt: str | None = None
    trust_remote_code: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], *, source: str = "model args") -> ModelOptions:
        """Build options from a mapping, coercing strings; unknown keys go to ``extra``."""
        known = {f.name: f for f in dataclasses.fields(cls) if f.name != "extra"}
        kwargs: dict[str, Any] = {}
        extra: dict[str, Any] = dict(values.get("extra", {}) or {})
        for key, raw in values.items():
            if key == "extra":
                continue
            name = key.replace("-", "_")
            if name not in known:
                extra[name] = raw
                continue
            kwargs[name] = _coerce(name, raw, source)
        opts = cls(**kwargs, extra=extra)
        opts.validate(source)
        return opts

    def validate(self, source: str = "model args") -> None:
        dev = self.device
        if not (
            dev in ("auto", "cpu", "cuda", "mps") or (dev.startswith("cuda:") and dev[5:].isdigit())
        ):
            raise ConfigError(f"{source}: device={dev!r} is not valid; use {DEVICES_HELP}")
        if self.dtype not in DTYPES:
            raise ConfigError(
                f"{source}: dtype={self.dtype!r} is not valid; use one of {', '.join(DTYPES)}"
            )
        if self.batch_size is not None and self.batch_size < 1:
            raise ConfigError(f"{source}: batch_size must be at least 1, got {self.batch_size}")
        if self.max_new_tokens < 1:
            raise ConfigError(
                f"{source}: max_new_tokens must be at least 1, got {self.max_new_tokens}"
            )

    def resolved_device(self) -> str:
        """The concrete torch device: ``auto`` is CUDA when available, else CPU."""
        if self.device != "auto":
            return self.device
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"

    def torch_dtype(self):
        """The torch dtype: ``auto`` is bf16 on a CUDA device that supports it, else fp32."""
        import torch

        if self.dtype == "bf16":
            return torch.bfloat16
        if self.dtype == "fp16":
            return torch.float16
        if self.dtype == "fp32":
            return torch.float32
        dev = self.resolved_device()
        if dev.startswith("cuda") and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32

    def key(self) -> str:
        """What in these options changes a model's outputs (fingerprints include it)."""
        return (
            f"dtype={self.dtype};image_size={self.image_size};sys={self.system_prompt or ''};"
            f"extra={sorted((k, repr(v)) for k, v in self.extra.items())}"
        )


def _coerce(name: str, raw: Any, source: str) -> Any:
    if name in ("batch_size", "max_new_tokens", "image_size"):
        if raw is None or (isinstance(raw, str) and raw.lower() in ("", "none")):
            return None
        try:
            return int(raw)
        except (TypeError, ValueError):
            raise ConfigError(f"{source}: {name} must be an integer, got {raw!r}") from None
    if name == "trust_remote_code":
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{source}: trust_remote_code must be true or false, got {raw!r}")
    return None if raw is None else str(raw)
