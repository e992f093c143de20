"""``hf:PATH`` for vision encoders: CLIP and SigLIP vision towers, DINOv2, through transformers.

A full CLIP / SigLIP checkpoint (vision + text) loads its vision tower only. The
checkpoint must be local (a directory, or a repo id already in the Hugging Face cache):
nothing is downloaded. Preprocessing follows the checkpoint's ``preprocessor_config.json``
(the family's defaults when it has none); ``image_size`` rescales it and interpolates the
position embeddings.

Views (``n`` = model arg ``blocks``, 4 by default):

* CLIP: ``cls`` = the post-layernormed CLS token (``pooler_output``); ``patch_mean`` = the
  mean of the post-layernormed patch tokens; ``blocks`` = the post-layernormed CLS token
  of each of the last n layers (the last equals ``cls``).
* SigLIP (no CLS token): ``cls`` = the attention-pooling head's output (the mean token
  without a head); ``patch_mean`` = the mean of the final post-layernormed tokens;
  ``blocks`` = the mean post-layernormed token of each of the last n layers (the last
  equals ``patch_mean``).
* DINOv2 (with or without registers): ``cls`` = the layernormed CLS token; ``patch_mean``
  = the mean of the layernormed patch tokens (registers excluded); ``blocks`` = the
  layernormed CLS token of each of the last n layers (the DINOv2 linear protocol's input).
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import torch

from pytest_fgbmk.errors import ModelError
from pytest_fgbmk.models.encoders import (
    ENCODER_ARGS,
    IMAGENET_MEAN,
    IMAGENET_STD,
    RESAMPLE_NAMES,
    EncoderAdapter,
    ImageTransform,
    files_signature,
)
from pytest_fgbmk.models.options import ModelOptions

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

#: config ``model_type`` → encoder family.
ENCODER_TYPES = {
    "clip": "clip",
    "clip_vision_model": "clip",
    "siglip": "siglip",
    "siglip_vision_model": "siglip",
    "dinov2": "dinov2",
    "dinov2_with_registers": "dinov2",
}
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".json", ".pt", ".pth")


class HFEncoder(EncoderAdapter):
    """A transformers vision encoder (CLIP, SigLIP, DINOv2) behind :meth:`encode`."""

    family = "hf"

    def __init__(
        self,
        module: torch.nn.Module,
        transform: ImageTransform,
        options: ModelOptions,
        *,
        kind: str,
        name: str,
        identity: str,
        native_size: int,
    ) -> None:
        super().__init__(module, transform, options, name=name, identity=identity)
        self.kind = kind
        inner = getattr(module, "vision_model", module)
        self._norm = inner.layernorm if kind == "dinov2" else inner.post_layernorm
        self._skip = 1 + int(getattr(module.config, "num_register_tokens", 0) or 0)
        self._interpolate = self.transform.size != native_size

    def _views(self, pixels: torch.Tensor) -> dict[str, torch.Tensor]:
        kwargs = {"output_hidden_states": True}
        if self.kind != "dinov2":  # DINOv2 always interpolates its position embeddings
            kwargs["interpolate_pos_encoding"] = self._interpolate
        out = self.module(pixel_values=pixels, **kwargs)
        last_layers = out.hidden_states[-self.n_blocks :]
        norm = self._norm
        if self.kind == "clip":
            return {
                "cls": out.pooler_output,
                "patch_mean": norm(out.last_hidden_state[:, 1:]).mean(1),
                "blocks": torch.stack([norm(h[:, 0]) for h in last_layers], dim=1),
            }
        if self.kind == "siglip":
            tokens = out.last_hidden_state
            pooled = out.pooler_output if out.pooler_output is not None else tokens.mean(1)
            return {
                "cls": pooled,
                "patch_mean": tokens.mean(1),
                "blocks": torch.stack([norm(h).mean(1) for h in last_layers], dim=1),
            }
        tokens = out.last_hidden_state
        return {
            "cls": tokens[:, 0],
            "patch_mean": tokens[:, self._skip :].mean(1),
            "blocks": torch.stack([norm(h[:, 0]) for h in last_layers], dim=1),
        }


def checkpoint_dir(target: str) -> Path:
    """The local directory of a checkpoint (a path, or a repo id in the HF cache)."""
    path = Path(target).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelError(f"hf:{target}: {path} has no config.json (is it a checkpoint?)")
        return path
    from transformers.utils import cached_file

    try:
        found = cached_file(target, "config.json", local_files_only=True)
    except (OSError, ValueError):
        found = None
    if not found:
        raise ModelError(
            f"hf:{target}: no local checkpoint there (nothing is downloaded: give a directory "
            "holding config.json, or download the repo into the Hugging Face cache first)"
        )
    return Path(found).parent


def encoder_kind(target: str) -> str | None:
    """The encoder family of a checkpoint (``clip``, ``siglip``, ``dinov2``) or None."""
    config = json.loads((checkpoint_dir(target) / "config.json").read_text(encoding="utf-8"))
    return ENCODER_TYPES.get(str(config.get("model_type", "")))


def load_hf_encoder(target: str, options: ModelOptions) -> HFEncoder:
    """Load a CLIP / SigLIP vision tower or a DINOv2 model from a local checkpoint."""
    import transformers

    options.check_extra("hf: (vision encoder)", ENCODER_ARGS)
    options.check_device()
    root = checkpoint_dir(target)
    config = json.loads((root / "config.json").read_text(encoding="utf-8"))
    model_type = str(config.get("model_type", ""))
    kind = ENCODER_TYPES.get(model_type)
    if kind is None:
        raise ModelError(
            f"hf:{target}: model_type {model_type!r} is not a supported vision encoder "
            f"(supported: {', '.join(sorted(ENCODER_TYPES))})"
        )
    cls = {
        "clip": transformers.CLIPVisionModel,
        "siglip": transformers.SiglipVisionModel,
        "dinov2": transformers.AutoModel,
    }[kind]
    dtype = options.torch_dtype()
    try:
        with _quiet_transformers():
            module, info = cls.from_pretrained(
                str(root),
                dtype=dtype,
                local_files_only=True,
                output_loading_info=True,
                trust_remote_code=options.trust_remote_code,
            )
    except (OSError, ValueError, RuntimeError) as e:
        detail = " ".join(str(e).split())[:400]
        raise ModelError(f"hf:{target}: cannot load the encoder: {detail}") from None
    missing = list(info.get("missing_keys", ()) or ())
    if missing:
        shown = ", ".join(sorted(missing)[:5])
        raise ModelError(
            f"hf:{target}: the checkpoint lacks {len(missing)} weights of the {kind} encoder "
            f"(e.g. {shown}); it would run with random weights"
        )
    vision = module.config
    native = int(vision.image_size)
    transform = _transform(root, kind, native)
    files = [p for p in root.iterdir() if p.is_file() and p.suffix in _WEIGHT_SUFFIXES]
    return HFEncoder(
        module,
        transform,
        options,
        kind=kind,
        name=root.resolve().name,
        identity=f"hf:{kind}:{files_signature(files)}",
        native_size=native,
    )


def _transform(root: Path, kind: str, native: int) -> ImageTransform:
    """The checkpoint's own preprocessing, or the family's defaults at its image size."""
    defaults = {
        "clip": ImageTransform(native, native, CLIP_MEAN, CLIP_STD, "bicubic", "center", "floor"),
        "siglip": ImageTransform(native, native, (0.5,) * 3, (0.5,) * 3, "bicubic", "squash"),
        "dinov2": ImageTransform(
            native,
            round(native * 256 / 224),
            IMAGENET_MEAN,
            IMAGENET_STD,
            "bicubic",
            "center",
            "floor",
        ),
    }[kind]
    path = root / "preprocessor_config.json"
    if not path.is_file():
        return defaults
    cfg = json.loads(path.read_text(encoding="utf-8"))
    size = cfg.get("size") or {}
    crop_size = cfg.get("crop_size") or {}
    mean = tuple(float(v) for v in cfg.get("image_mean", defaults.mean))
    std = tuple(float(v) for v in cfg.get("image_std", defaults.std))
    interpolation = RESAMPLE_NAMES.get(int(cfg.get("resample", 3)), "bicubic")
    if cfg.get("do_center_crop") and crop_size:
        crop = int(crop_size.get("height", native))
        resize = int(size.get("shortest_edge", size.get("height", crop)))
        return ImageTransform(crop, resize, mean, std, interpolation, "center", "floor")
    side = int(size.get("height", size.get("shortest_edge", native)))
    return ImageTransform(side, side, mean, std, interpolation, "squash")


@contextlib.contextmanager
def _quiet_transformers():
    """Silence transformers' load report and progress bars while loading (then restore)."""
    from transformers.utils import logging

    level = logging.get_verbosity()
    bars = logging.is_progress_bar_enabled()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.set_verbosity(level)
        if bars:
            logging.enable_progress_bar()
