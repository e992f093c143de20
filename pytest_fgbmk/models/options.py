"""Model options: what ``--fgbmk-model-arg k=v`` and a model-args file can set, validated."""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pytest_fgbmk.errors import ConfigError, UnknownModelArg

DEVICES_HELP = "auto, cpu, cuda, cuda:N or mps"
DTYPES = ("auto", "bf16", "fp16", "fp32")
#: The accepted ``image_size`` range, in pixels (a side): below a ViT patch or two nothing
#: is left to see; above it no vision tower is trained.
IMAGE_SIZE_RANGE = (16, 8192)


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
        low, high = IMAGE_SIZE_RANGE
        if self.image_size is not None and not low <= self.image_size <= high:
            raise ConfigError(
                f"{source}: image_size={self.image_size} is out of range; give a side in pixels "
                f"from {low} to {high} (or leave it out for the model's own size)"
            )

    def common_keys(self) -> tuple[str, ...]:
        """The option names every family accepts (the fields; ``extra`` holds the rest)."""
        return tuple(f.name for f in dataclasses.fields(self) if f.name != "extra")

    def check_extra(self, family: str, accepted: Iterable[str]) -> None:
        """Refuse a model arg in ``extra`` that ``family`` does not read, naming the ones it
        does and the closest match. Raises :class:`~pytest_fgbmk.errors.UnknownModelArg`."""
        accepted = tuple(accepted)
        unknown = sorted(set(self.extra) - set(accepted))
        if not unknown:
            return
        name = unknown[0]
        close = difflib.get_close_matches(name, [*accepted, *self.common_keys()], n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        own = ", ".join(sorted(accepted)) or "none"
        raise UnknownModelArg(
            f"model arg {name}={self.extra[name]!r} is not known to {family}{hint}; "
            f"{family} accepts {own}, and the common {', '.join(self.common_keys())}"
        )

    def check_device(self) -> None:
        """Refuse a device this machine does not have, listing those it has.

        Raises :class:`ConfigError` (before any weights are read when called by the
        registry). ``auto`` always passes: it picks CUDA when present, else the CPU.
        """
        dev = self.device
        if dev in ("auto", "cpu"):
            return
        present = available_devices()
        if dev in present or (dev == "cuda" and "cuda:0" in present):
            return
        if dev.startswith("cuda"):
            count = sum(1 for d in present if d.startswith("cuda:"))
            has = f"{count} CUDA device(s)" if count else "no CUDA device"
        else:
            has = "no MPS (Apple GPU) device"
        raise ConfigError(
            f"device={dev}: this machine has {has} (devices here: {', '.join(present)}); "
            "use --fgbmk-device cpu (or --fgbmk-model-arg device=cpu), or auto for CUDA when "
            "present, else the CPU"
        )

    def resolved_device(self) -> str:
        """The concrete torch device: ``auto`` is CUDA when available, else CPU. Raises
        :class:`ConfigError` naming the devices present for one this machine lacks."""
        if self.device != "auto":
            self.check_device()
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

    def recorded(self, family_args: Iterable[str], *, answers: bool) -> str:
        """The settings besides the weights that move a case's numbers, as a baseline records
        them (``dtype=bf16;image_size=none;max_new_tokens=32;system_prompt=;fixed_new_tokens=8``;
        a ``;`` inside a value is written ``,``).

        ``answers``: for a human-oriented case (the generation settings ``max_new_tokens`` and
        ``system_prompt`` count; an encoder's features do not read them).
        ``family_args``: the family's own model args that change its answers or features
        (:attr:`pytest_fgbmk.models.base.ModelAdapter.recorded_args`), each recorded as given
        and only when given. Not recorded: ``device``, ``batch_size``, ``trust_remote_code``
        and the family's transport settings (where and how it runs, not what it answers;
        run-to-run noise such as bf16 batching is what ``fgbmk flips`` measures). ``dtype``
        is recorded as given (``auto`` stays ``auto``).
        """
        parts = [f"dtype={self.dtype}", f"image_size={self.image_size or 'none'}"]
        if answers:
            parts += [f"max_new_tokens={self.max_new_tokens}"]
            parts += [f"system_prompt={self.system_prompt or ''}"]
        parts += [f"{k}={self.extra[k]}" for k in sorted(set(family_args)) if k in self.extra]
        return ";".join(p.replace(";", ",") for p in parts)

    def key(self) -> str:
        """What in these options changes a model's outputs (fingerprints include it)."""
        return (
            f"dtype={self.dtype};image_size={self.image_size};sys={self.system_prompt or ''};"
            f"extra={sorted((k, repr(v)) for k, v in self.extra.items())}"
        )


def available_devices() -> list[str]:
    """The torch devices of this machine: ``cpu``, ``cuda:0`` … ``cuda:N-1``, ``mps``."""
    import torch

    out = ["cpu"]
    if torch.cuda.is_available():
        out += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        out.append("mps")
    return out


def _coerce(name: str, raw: Any, source: str) -> Any:
    if name in ("batch_size", "max_new_tokens", "image_size"):
        if raw is None or (isinstance(raw, str) and raw.lower() in ("", "none")):
            return None
        what = "a whole number" + (
            " of pixels from {} to {}".format(*IMAGE_SIZE_RANGE) if name == "image_size" else ""
        )
        if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
            raise ConfigError(f"{source}: {name} must be {what}, got {raw!r}")
        try:
            return int(raw)
        except (TypeError, ValueError):
            raise ConfigError(f"{source}: {name} must be {what}, got {raw!r}") from None
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
