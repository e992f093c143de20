"""Tiny random checkpoints of any image-text-to-text family of the installed transformers.

:func:`build_family` writes a complete checkpoint for a ``model_type`` of
``MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES`` with ``save_pretrained``, built from the
family's own classes only, nothing downloaded:

- config: the family's default config with every text / vision sub-config made tiny
  (hidden size 32, 2 heads of 16, 2 layers, intermediate 64; :data:`SMALL`); image
  resolutions and patch sizes keep their defaults, so the processor and the vision tower
  agree without per-family arithmetic (a 32 px image is resized up by the processor; a
  2-layer tower of width 32 on a few thousand patches costs milliseconds);
- tokenizer: a byte-level BPE trained here (:func:`pytest_fgbmk.models.tiny._tokenizer`)
  whose special tokens are the strings the family's processing and configuration modules
  name (``<image>``, ``<start_of_image>``, ``[IMG]``, ``<|image_pad|>`` …), found in their
  source; the config's ``*_token_id`` / ``*_token_index`` fields are pointed at them;
- processor: the family's processor class with its default image (and video / audio)
  processors and a generic chat template that puts the processor's image placeholder
  before the text.

Families that need more than this (remote code, protein or audio-only inputs, a VQ image
tokenizer with its own vocabulary …) fail here with the transformers error; the sweep
test records them by name with the reason (:data:`tests.models.test_models_families`).
"""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path
from typing import Any

#: Tiny sizes given to every text / vision sub-config that has the field.
SMALL: dict[str, Any] = {
    "hidden_size": 32,
    "embed_dim": 32,
    "out_hidden_size": 32,
    "projection_dim": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "depth": 2,
    "num_layers": 2,
    "num_attention_heads": 2,
    "num_heads": 2,
    "num_key_value_heads": 1,
    "head_dim": 16,
    "moe_intermediate_size": 32,
    "shared_expert_intermediate_size": 32,
    "num_experts": 4,
    "n_routed_experts": 4,
    "num_experts_per_tok": 2,
    "max_position_embeddings": 4096,
}

#: Families that :mod:`pytest_fgbmk.models.tiny` builds by hand (its builder name): the
#: generic shrink cannot size Idefics3/SmolVLM's image splitting to their tower.
TINY_BUILDERS = {"idefics3": "idefics3", "smolvlm": "smolvlm"}

#: A tiny checkpoint larger than this was not shrunk (a sub-model with unknown fields).
MAX_PARAMETERS = 30_000_000

#: Sub-config attribute names that hold a language or vision model.
SUB_CONFIGS = ("text_config", "vision_config")

_SPECIAL = re.compile(
    r"""["'](<\|?[A-Za-z_][A-Za-z0-9_\-]{0,40}\|?>|</[A-Za-z_][A-Za-z0-9_\-]{0,40}>|\[[A-Z][A-Z_]{1,20}\])["']"""
)

ROLES = {"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"}


def _module_specials(obj: Any) -> list[str]:
    """Special-token-looking strings in the source of ``obj``'s module."""
    try:
        source = inspect.getsource(importlib.import_module(obj.__module__))
    except (OSError, TypeError, ImportError):
        return []
    return sorted(set(_SPECIAL.findall(source)))


def _auto_class(mapping_module: str, mapping_name: str, model_type: str):
    import transformers

    module = importlib.import_module(f"transformers.models.auto.{mapping_module}")
    names = getattr(module, mapping_name).get(model_type)
    if names is None:
        return None
    if isinstance(names, dict):
        names = names.get("torchvision") or names.get("pil") or next(iter(names.values()))
    if isinstance(names, tuple):
        names = next((n for n in names if n), None)
    return getattr(transformers, names, None) if names else None


def _chat_template(placeholder: str) -> str:
    return (
        "{% for message in messages %}{{ message['role'] }}: "
        "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
        "{% for c in message['content'] %}"
        "{% if c['type'] == 'image' %}" + placeholder + "\n"
        "{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}"
        "{% endfor %}{% endif %}\n{% endfor %}"
        "{% if add_generation_prompt %}assistant:{% endif %}"
    )


def _small_sub(default: Any, mrope: bool = False) -> dict[str, Any]:
    """The tiny keyword arguments a sub-config accepts (only fields it has); ``mrope``:
    the model splits its rotary half into (temporal, height, width) sections."""
    out: dict[str, Any] = {}
    fields = default.to_dict()
    for key, small in SMALL.items():
        value = fields.get(key, _ABSENT)
        if isinstance(value, (list, tuple)):  # per-stage fields (Florence-2's DaViT): each stage
            out[key] = [small] * len(value)
        elif value is not _ABSENT:
            out[key] = small
    for key, small in (("depths", 1), ("num_groups", 2)):
        value = getattr(default, key, None)
        if isinstance(value, (list, tuple)):
            out[key] = [small] * len(value)
    rope = fields.get("rope_parameters")
    if isinstance(rope, dict) and mrope and not rope.get("mrope_section"):
        rope = {**rope, "mrope_section": [0, 0, 0]}
    if isinstance(rope, dict) and rope.get("mrope_section"):
        half = SMALL["head_dim"] // 2  # sections of the rotary half of a 16-dim head
        n = len(rope["mrope_section"])
        first = half - (n - 1) * (half // n)
        out["rope_parameters"] = {
            **rope,
            "mrope_section": [first] + [half // n] * (n - 1),
        }
    for name, value in fields.items():  # per-layer type lists: 2 layers
        if name.endswith("layer_types") and isinstance(value, (list, tuple)) and value:
            value = list(value)
            out[name] = value[:2] if len(set(map(str, value))) == 1 else _both(value)
    for name, value in fields.items():  # layer indices: kept inside the 2 layers
        if (
            name.endswith(("_indices", "_indexes", "_layers"))
            and isinstance(value, list)
            and value
            and all(isinstance(i, int) for i in value)
        ):
            out[name] = [i for i in value if 0 <= i < 2] or [1]
    return out


def _both(types: list[Any]) -> list[Any]:
    """Two layer types out of a pattern that mixes them (the first two distinct ones)."""
    distinct = list({str(t): t for t in reversed(types)}.values())[::-1]
    return distinct[:2]


_ABSENT = object()


def _config(model_type: str, vocab: int, model_cls: Any):
    from transformers import CONFIG_MAPPING

    config_cls = CONFIG_MAPPING[model_type]
    default = config_cls()
    try:
        modeling = inspect.getsource(importlib.import_module(model_cls.__module__))
    except (OSError, TypeError, ImportError):
        modeling = ""
    mrope = "mrope_section" in modeling
    kwargs: dict[str, Any] = {}
    from transformers import PretrainedConfig

    subs = [n for n in vars(default) if isinstance(getattr(default, n), PretrainedConfig)]
    for name in subs:
        sub = getattr(default, name)
        small = _small_sub(sub, mrope and name == "text_config")
        if name == "text_config" or hasattr(sub, "vocab_size") and name != "vision_config":
            small["vocab_size"] = vocab
        kwargs[name] = {**sub.to_dict(), **small}
        for key in ("layer_types",):
            if key in sub.to_dict() and key not in small:
                kwargs[name].pop(key, None)
    if not subs:  # a single config (Fuyu, Chameleon …): the language model's fields
        kwargs.update(_small_sub(default))
        kwargs["vocab_size"] = vocab
    return config_cls(**kwargs)


_TOKEN_ATTR = re.compile(r"tokenizer\.(\w+_token)\b|getattr\(\s*tokenizer,\s*[\"'](\w+_token)[\"']")


def _token_attributes(obj: Any) -> list[str]:
    """Names of tokenizer attributes (``image_token`` …) that ``obj``'s module reads."""
    try:
        source = inspect.getsource(importlib.import_module(obj.__module__))
    except (OSError, TypeError, ImportError):
        return []
    names = {a or b for a, b in _TOKEN_ATTR.findall(source)}
    return sorted(n for n in names if n not in ROLES and n != "mask_token")


def _tokenizer(specials: list[str], attributes: list[str]):
    """The tiny tokenizer: the roles, the harvested specials, and one ``<name>`` token per
    tokenizer attribute the processor reads (``tokenizer.image_token`` → ``<image_token>``)."""
    from pytest_fgbmk.models.tiny import _tokenizer as train

    roles = list(ROLES.values())
    named = {name: f"<{name}>" for name in attributes}
    ordered = list(dict.fromkeys(roles + specials + list(named.values())))
    return train(ordered, named, **ROLES)


#: What a family needs beyond the generic shrink: ``config`` ({sub-config or "." : fields}),
#: ``processor`` and ``image_processor`` keyword arguments. Gemma 3: its default SigLIP
#: tower (224 px / 16 px = 14 patches a side) cannot be pooled to the default 16x16 tokens.
OVERRIDES: dict[str, dict[str, Any]] = {
    # VipLLaVA reads five vision layers, the deepest 11 from the end
    "vipllava": {
        "config": {".": {"vision_feature_layers": [-2, -1]}},
        "processor": {"vision_feature_select_strategy": "default"},  # it drops the CLS
    },
    # Mllama: the projector reads the last hidden state and one intermediate layer
    # (and 56 px tiles instead of 560 px: a tenth of the CPU time)
    "mllama": {"config": {"vision_config": {"vision_output_dim": 32 * 2, "image_size": 56}}},
    "gemma3": {
        "config": {".": {"mm_tokens_per_image": 49}},
        "processor": {"image_seq_length": 49},
    },
    "shieldgemma2": {
        "config": {".": {"mm_tokens_per_image": 49}},
        "processor": {"image_seq_length": 49},
    },
}


def _processor_from_config(processor, config) -> None:
    """Processor fields the default constructor leaves None (LLaVA's ``patch_size``,
    ``vision_feature_select_strategy``) taken from the config; a CLIP tower's CLS token
    counted as an additional image token."""
    vision = getattr(config, "vision_config", None)
    for name in ("patch_size", "spatial_merge_size"):  # the tower's grid is the truth
        want = getattr(config, name, None)
        if want is None and vision is not None:
            want = getattr(vision, name, None)
        if isinstance(want, int) and isinstance(getattr(processor, name, None), int):
            setattr(processor, name, want)
    for name in ("patch_size", "vision_feature_select_strategy", "image_size"):
        if hasattr(processor, name) and getattr(processor, name) is None:
            value = getattr(config, name, None)
            if value is None and vision is not None:
                value = getattr(vision, name, None)
            if value is not None:
                setattr(processor, name, value)
    if hasattr(processor, "num_additional_image_tokens") and vision is not None:
        has_cls = "clip" in str(getattr(vision, "model_type", ""))
        processor.num_additional_image_tokens = 1 if has_cls else 0


def _sized_like_the_tower(ip: Any, config: Any) -> dict[str, Any]:
    """Image-processor sizes set to a fixed-size vision tower's ``image_size`` (their
    defaults disagree in some families: BLIP-2 384 vs 224 px, InternVL 384 vs 448 px)."""
    vision = getattr(config, "vision_config", None)
    side = getattr(vision, "image_size", None) if vision is not None else None
    if isinstance(side, (list, tuple)) and side:
        side = side[0]
    if not isinstance(side, int) or side <= 0:
        return {}
    out: dict[str, Any] = {}
    size, crop = getattr(ip, "size", None), getattr(ip, "crop_size", None)
    if getattr(size, "height", None):
        out["size"] = {"height": side, "width": side}
    elif getattr(size, "shortest_edge", None) and not getattr(size, "longest_edge", None):
        out["size"] = {"shortest_edge": side}
    if getattr(crop, "height", None):
        out["crop_size"] = {"height": side, "width": side}
    return out


def _make_processor(model_type: str, tok, override: dict[str, Any], config: Any):
    import transformers

    processor_cls = _auto_class("processing_auto", "PROCESSOR_MAPPING_NAMES", model_type)
    if processor_cls is None:
        raise RuntimeError("no processor class for this model type")
    params = inspect.signature(processor_cls.__init__).parameters
    kwargs: dict[str, Any] = {}
    if "image_processor" in params:
        ip_cls = _auto_class("image_processing_auto", "IMAGE_PROCESSOR_MAPPING_NAMES", model_type)
        if ip_cls is None:
            raise RuntimeError("no image processor class for this model type")
        ip_kwargs = _sized_like_the_tower(ip_cls(), config)
        kwargs["image_processor"] = ip_cls(**{**ip_kwargs, **override.get("image_processor", {})})
    if "video_processor" in params:
        vp_cls = _auto_class("video_processing_auto", "VIDEO_PROCESSOR_MAPPING_NAMES", model_type)
        kwargs["video_processor"] = vp_cls() if vp_cls is not None else None
    if "feature_extractor" in params:
        fe_cls = _auto_class(
            "feature_extraction_auto", "FEATURE_EXTRACTOR_MAPPING_NAMES", model_type
        )
        kwargs["feature_extractor"] = fe_cls() if fe_cls is not None else None
    kwargs["tokenizer"] = tok
    kwargs.update(override.get("processor", {}))
    processor = processor_cls(**kwargs)
    del transformers
    return processor


def placeholder(processor) -> str:
    """The text a prompt holds where the image goes: the processor's image token, or the
    begin-of-image token of processors that expand it (Gemma 3)."""
    for name in ("boi_token", "image_token", "image_placeholder", "fake_image_token"):
        value = getattr(processor, name, None)
        if isinstance(value, str) and value:
            return value
    return "<image>"


def _working_placeholder(processor) -> str:
    """The first candidate placeholder the processor accepts for one image in one prompt
    (its image token, the begin-of-image token of processors that expand it, or nothing
    for processors that insert the image tokens themselves)."""
    from PIL import Image

    image = Image.new("RGB", (32, 32), (120, 60, 30))
    candidates = [
        getattr(processor, name, None)
        for name in ("image_token", "boi_token", "image_placeholder", "fake_image_token")
    ]
    tried = []
    # "": processors that insert the image tokens themselves (Florence-2, BLIP, GIT …)
    for text in dict.fromkeys([*(c for c in candidates if isinstance(c, str) and c), ""]):
        for images in ([[image]], [image]):
            try:
                processor(images=images, text=[f"user: {text}\nhi"], return_tensors="pt")
            except Exception as e:  # noqa: BLE001 - the next candidate may be the one
                tried.append(f"{text}: {type(e).__name__}: {str(e)[:120]}")
                continue
            return text
    raise RuntimeError("no image placeholder the processor accepts: " + "; ".join(tried))


def _match_resolution(config, processor) -> None:
    """A dynamic-resolution image processor's patch grid set to the vision tower's."""
    ip = getattr(processor, "image_processor", None)
    vision = getattr(config, "vision_config", None)
    # patch grids of dynamic-resolution processors follow the tower (Qwen3-VL: 16 px)
    for ip_name, vision_name in (
        ("patch_size", "patch_size"),
        ("merge_size", "spatial_merge_size"),
        ("temporal_patch_size", "temporal_patch_size"),
    ):
        want = getattr(vision, vision_name, None) if vision is not None else None
        if isinstance(want, int) and isinstance(getattr(ip, ip_name, None), int):
            setattr(ip, ip_name, want)


def _point_token_ids(config, processor, tok) -> None:
    """Point the config's ``X_token_id`` / ``X_token_index`` at the processor's ``X_token``."""
    unk = tok.unk_token_id
    for holder in [config] + [getattr(config, n) for n in SUB_CONFIGS if hasattr(config, n)]:
        if holder is None:
            continue
        for field in list(vars(holder)):
            m = re.fullmatch(r"(\w+_token)_(id|index)", field)
            if not m:
                continue
            # the tokenizer's first: Gemma 3's processor calls its begin-of-image token
            # image_token, while the model's image_token_index is the soft token
            text = getattr(tok, m.group(1), None)
            if not isinstance(text, str):
                text = getattr(processor, m.group(1), None)
            if isinstance(text, str):
                token_id = tok.convert_tokens_to_ids(text)
                if token_id is not None and token_id != unk:
                    setattr(holder, field, token_id)
    for holder in [config] + [getattr(config, n) for n in SUB_CONFIGS if hasattr(config, n)]:
        if holder is None:
            continue
        for field, role in (
            ("bos_token_id", "bos_token"),
            ("eos_token_id", "eos_token"),
            ("pad_token_id", "pad_token"),
        ):
            if hasattr(holder, field):
                setattr(holder, field, tok.convert_tokens_to_ids(ROLES[role]))


def build_family(model_type: str, out_dir: Path) -> Path:
    """Write a tiny random ``model_type`` checkpoint into ``out_dir`` (the caller seeds
    torch). Raises whatever transformers raises when the family cannot be built so."""
    import torch
    import transformers
    from transformers import GenerationConfig

    from pytest_fgbmk.models import tiny

    if TINY_BUILDERS.get(model_type) in tiny.FAMILIES:  # the hand-made tiny checkpoint
        return tiny.build_tiny(TINY_BUILDERS[model_type], Path(out_dir))
    model_name = transformers.models.auto.modeling_auto.MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES[
        model_type
    ]
    model_cls = getattr(transformers, model_name)
    processor_cls = _auto_class("processing_auto", "PROCESSOR_MAPPING_NAMES", model_type)
    config_cls = transformers.CONFIG_MAPPING[model_type]
    specials = sorted(
        set(
            _module_specials(processor_cls or config_cls)
            + _module_specials(config_cls)
            + _module_specials(model_cls)
        )
    )
    tok = _tokenizer(specials, _token_attributes(processor_cls) if processor_cls else [])
    vocab = (len(tok) + 7) // 8 * 8
    config = _config(model_type, vocab, model_cls)
    override = OVERRIDES.get(model_type, {})
    for holder, values in override.get("config", {}).items():
        target = config if holder == "." else getattr(config, holder)
        for key, value in values.items():
            setattr(target, key, value)
    processor = _make_processor(model_type, tok, override, config)
    _processor_from_config(processor, config)
    _match_resolution(config, processor)
    processor.chat_template = _chat_template(_working_placeholder(processor))
    _point_token_ids(config, processor, tok)
    with torch.device("meta"):
        size = sum(p.numel() for p in model_cls(config).parameters())
    if size > MAX_PARAMETERS:
        raise RuntimeError(
            f"the generically shrunk model still has {size / 1e6:.0f}M parameters"
            " (sub-models this builder does not know how to shrink)"
        )
    model = model_cls(config)
    model.generation_config = GenerationConfig(
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        do_sample=False,
        max_new_tokens=8,
    )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    return out_dir
