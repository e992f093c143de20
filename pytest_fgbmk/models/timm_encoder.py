"""``timm:NAME`` — any timm model as a frozen encoder, with weights from a local file only.

The weights come from ``timm:NAME@/path/to/file`` or ``--fgbmk-model-arg weights=PATH``
(``.safetensors``, ``.pth`` or ``.bin``, loaded by timm through
``pretrained_cfg_overlay=dict(file=...)``); ``random=true`` builds the model with seeded
random weights instead (tests, smoke runs). Nothing is ever downloaded.

Views:

* token models (ViT, DeiT, EVA …): ``cls`` is the model's pre-logits embedding (the
  normalised CLS token for ``global_pool='token'``, the pooled tokens otherwise),
  ``patch_mean`` the mean of the final normalised patch tokens, ``blocks`` the normalised
  CLS token of each of the last n blocks (the mean patch token where there is no CLS);
* CNNs (ResNet, EfficientNet, ConvNeXt …): ``cls`` is the global-average-pooled final
  feature map (pre-logits), ``patch_mean`` the mean of the final map over its spatial
  positions (the same as ``cls`` for average-pooled CNNs), ``blocks`` the pooled output of
  each of the last n stages, zero-padded at the end to the widest stage's width;
* a model without ``forward_intermediates`` gives ``cls`` and ``patch_mean`` only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import inspect
import logging
from collections.abc import Sequence
from pathlib import Path

import torch
from PIL import Image

from pytest_fgbmk.errors import ConfigError, ModelError
from pytest_fgbmk.models.encoders import (
    ENCODER_ARGS,
    EncoderAdapter,
    ImageTransform,
    files_signature,
    pad_stack,
)
from pytest_fgbmk.models.options import ModelOptions

TRUE_WORDS = ("1", "true", "yes", "on")
#: Model args ``timm:`` reads (besides the common options and the encoders' ``blocks``).
TIMM_ARGS = ("weights", "random", "seed")


class TimmEncoder(EncoderAdapter):
    """A timm model behind :meth:`encode` (and :meth:`classify` when it keeps its head)."""

    family = "timm"

    def __init__(
        self,
        module: torch.nn.Module,
        options: ModelOptions,
        *,
        name: str,
        identity: str,
        transform: ImageTransform | None = None,
    ) -> None:
        super().__init__(
            module,
            transform or timm_transform(module),
            options,
            name=name,
            identity=identity,
        )
        params = (
            inspect.signature(module.forward_intermediates).parameters
            if hasattr(module, "forward_intermediates")
            else {}
        )
        self._has_intermediates = bool(params)
        self._prefix_tokens = int(getattr(module, "num_prefix_tokens", 0) or 0)
        self._ask_prefix = "return_prefix_tokens" in params and self._prefix_tokens > 0
        self._nhwc = getattr(module, "output_fmt", "NCHW") == "NHWC"
        n_stages = len(getattr(module, "feature_info", ()) or ()) or self.n_blocks
        self._n = min(self.n_blocks, n_stages)

    def _views(self, pixels: torch.Tensor) -> dict[str, torch.Tensor]:
        m = self.module
        if not self._has_intermediates:
            final = m.forward_features(pixels)
            return {"cls": m.forward_head(final, pre_logits=True), "patch_mean": self._mean(final)}
        if self._ask_prefix:
            final, inter = m.forward_intermediates(
                pixels, indices=self._n, norm=True, return_prefix_tokens=True
            )
            blocks = torch.stack([prefix[:, 0] for _, prefix in inter], dim=1)
        else:
            final, inter = m.forward_intermediates(pixels, indices=self._n)
            blocks = pad_stack([t.flatten(2).mean(2) for t in inter])
        return {
            "cls": m.forward_head(final, pre_logits=True),
            "patch_mean": self._mean(final),
            "blocks": blocks,
        }

    def _mean(self, final: torch.Tensor) -> torch.Tensor:
        if final.ndim == 3:
            return final[:, self._prefix_tokens :].mean(1)
        return final.mean((1, 2)) if self._nhwc else final.mean((2, 3))

    def classify(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """Class logits (B, num_classes) from the model's own head, float32 on the CPU."""
        if getattr(self.module, "num_classes", 0) in (0, None):
            raise ModelError(f"model {self.name!r} was loaded without a classifier head")
        outs = []
        for i in range(0, len(images), self.batch_size):
            pixels = self.transform.batch(images[i : i + self.batch_size])
            with torch.inference_mode():
                outs.append(self.module(pixels.to(self.device, self.dtype)).float().cpu())
        return torch.cat(outs)


def timm_transform(module: torch.nn.Module) -> ImageTransform:
    """The eval transform of a timm model's data config (input size, crop_pct, mean, std)."""
    import timm.data

    cfg = timm.data.resolve_model_data_config(module)
    size = int(cfg["input_size"][-1])
    embed_size = getattr(getattr(module, "patch_embed", None), "img_size", None)
    if embed_size:
        size = int(embed_size[-1])
    crop_pct = float(cfg.get("crop_pct") or 1.0)
    mode = cfg.get("crop_mode", "center")
    if mode not in ("center", "squash"):
        raise ModelError(
            f"timm crop_mode {mode!r} is not supported; use a model whose data config "
            "crops 'center' or 'squash'"
        )
    resize = max(size, int(size / crop_pct))
    return ImageTransform(
        size=size,
        resize=resize,
        mean=tuple(float(v) for v in cfg["mean"]),
        std=tuple(float(v) for v in cfg["std"]),
        interpolation=cfg.get("interpolation", "bicubic") or "bicubic",
        crop=mode,
    )


def load_timm(target: str, options: ModelOptions) -> TimmEncoder:
    """Load ``timm:TARGET`` where TARGET is ``NAME`` or ``NAME@/path/to/weights``."""
    import timm

    options.check_extra("timm:", (*TIMM_ARGS, *ENCODER_ARGS))
    options.check_device()
    name, _, at_path = target.partition("@")
    name = name.strip()
    if not name:
        raise ConfigError("timm: spec needs a model name, e.g. timm:vit_small_patch14_dinov2")
    if not timm.is_model(name):
        close = difflib.get_close_matches(name, timm.list_models(), n=5, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ModelError(f"timm has no model named {name!r}{hint}")
    weights = at_path.strip() or options.extra.get("weights")
    random_init = str(options.extra.get("random", "")).strip().lower() in TRUE_WORDS
    kwargs: dict[str, object] = {"num_classes": 0}
    seed: int | None = None
    if weights:
        path = Path(str(weights)).expanduser()
        if not path.is_file():
            raise ModelError(
                f"timm:{name}: weights file {path} does not exist "
                "(give a local .safetensors/.pth file; nothing is downloaded)"
            )
        kwargs |= {"pretrained": True, "pretrained_cfg_overlay": {"file": str(path)}}
        identity = f"timm:{name}:{files_signature([path])}"
    elif random_init:
        seed = _seed(options.extra.get("seed", 0))
        identity = f"timm:{name}:random:{seed}"
    else:
        raise ModelError(
            f"timm:{name} needs a local weights file: timm:{name}@/path/to/weights.safetensors "
            "or --fgbmk-model-arg weights=PATH (nothing is downloaded); "
            "random=true builds it with random weights"
        )
    module = _create(timm, name, kwargs, options, seed=seed)
    # the identity says which weights these are (their content): how they were named
    # (@path or weights=, relative, absolute, a link) is no part of the fingerprint
    kept = {k: v for k, v in options.extra.items() if k not in TIMM_ARGS}
    return TimmEncoder(
        module, dataclasses.replace(options, extra=kept), name=name, identity=identity
    )


def _seed(raw: object) -> int:
    try:
        return int(str(raw))
    except ValueError:
        raise ConfigError(f"model arg seed={raw!r} must be an integer") from None


def _create(timm, name: str, kwargs: dict, options: ModelOptions, *, seed: int | None):
    """Create the model; ``image_size`` goes to models that take ``img_size`` (ViTs)."""
    attempts = (
        [kwargs | {"img_size": options.image_size}, kwargs] if options.image_size else [kwargs]
    )
    for i, kw in enumerate(attempts):
        try:
            with torch.random.fork_rng(devices=[]), _missing_keys_log() as missing:
                if seed is not None:
                    torch.manual_seed(seed)
                model = timm.create_model(name, **kw)
            if missing:
                where = kw["pretrained_cfg_overlay"]["file"]
                raise ModelError(
                    f"timm:{name}: {where} lacks weights of this model ({missing[0][:300]}); "
                    "it would run with random weights (is the file this model's weights?)"
                )
            return model
        except TypeError as e:
            if i + 1 == len(attempts):
                raise ModelError(f"timm:{name}: cannot build the model: {e}") from None
        except (RuntimeError, KeyError, ValueError, OSError) as e:
            where = kwargs.get("pretrained_cfg_overlay", {}).get("file", "the weights")
            detail = " ".join(str(e).split())[:400]
            raise ModelError(
                f"timm:{name}: cannot load {where}: {detail} (is the file this model's weights?)"
            ) from None
    raise ModelError(f"timm:{name}: cannot build the model")


@contextlib.contextmanager
def _missing_keys_log():
    """Collect timm's report of weights a checkpoint lacked (timm logs it at INFO only)."""
    logger = logging.getLogger("timm.models._builder")
    found: list[str] = []

    class _Catch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            text = record.getMessage()
            if text.startswith("Missing keys"):
                found.append(text)

    handler, level = _Catch(logging.INFO), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield found
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
