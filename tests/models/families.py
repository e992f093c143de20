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

What a family needs beyond that, and what a rule cannot tell (a config validator's field,
a token-count the processor does not derive from the tower, a token id whose config field
is named differently from the processor's attribute), is in :data:`OVERRIDES`, with why.
Families that need more than this (remote code, protein or audio-only inputs, a VQ image
tokenizer with its own vocabulary …) fail here with the transformers error; the sweep
test records them by name with the reason (:data:`tests.models.test_models_families`).
"""

from __future__ import annotations

import copy
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
    "d_kv": 16,
    "word_embed_proj_dim": 32,  # OPT (BLIP-2, InstructBLIP): the embedding width
    "moe_intermediate_size": 32,
    "shared_expert_intermediate_size": 32,
    "num_experts": 4,
    "n_routed_experts": 4,
    "num_experts_per_tok": 2,
    "max_position_embeddings": 4096,
    # BART-style encoder-decoders (Florence-2's language model)
    "d_model": 32,
    "encoder_layers": 2,
    "decoder_layers": 2,
    "encoder_ffn_dim": 64,
    "decoder_ffn_dim": 64,
    "encoder_attention_heads": 2,
    "decoder_attention_heads": 2,
    "hidden_size_per_layer_input": 16,
    "num_kv_shared_layers": 0,
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
            layers = fields.get("num_hidden_layers")  # per-layer fields (Gemma 3n): 2 layers
            out[key] = [small] * (2 if len(value) == layers and layers != 2 else len(value))
        elif value is not _ABSENT:
            out[key] = small
    heads, kv = fields.get("num_attention_heads"), fields.get("num_key_value_heads")
    if isinstance(heads, int) and heads == kv and "num_key_value_heads" in out:
        out["num_key_value_heads"] = out.get("num_attention_heads", heads)  # MHA stays MHA (GLM-5)
    for key, small in (("depths", 1), ("num_groups", 2)):
        value = getattr(default, key, None)
        if isinstance(value, (list, tuple)):
            out[key] = [small] * len(value)
    rope = fields.get("rope_parameters")
    if isinstance(rope, dict) and mrope and not rope.get("mrope_section"):
        rope = {**rope, "mrope_section": [0, 0, 0]}
    if isinstance(rope, dict) and rope.get("mrope_section"):
        # sections of the rotary half of a 16-dim head (GLM-4V-MoE rotates half of it)
        half = int(SMALL["head_dim"] * float(rope.get("partial_rotary_factor", 1.0))) // 2
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
    layers = fields.get("num_hidden_layers")
    for name, value in fields.items():  # other per-layer lists (Gemma 3n's sparsity): 2 layers
        if (
            name not in out
            and isinstance(value, list)
            and isinstance(layers, int)
            and layers > 2
            and len(value) == layers
            and not name.endswith(("_indices", "_indexes", "_layers"))
        ):
            out[name] = value[:2] if len(set(map(str, value))) == 1 else _both(value)
    per_layer = fields.get("per_layer_config")
    if isinstance(per_layer, dict) and per_layer:
        out["per_layer_config"] = _small_per_layer(per_layer, fields.get("layer_types"))
    for name, value in fields.items():  # layer indices: kept inside the 2 layers
        if (
            name.endswith(("_indices", "_indexes", "_layers"))
            and isinstance(value, list)
            and value
            and all(isinstance(i, int) for i in value)
        ):
            out[name] = [i for i in value if 0 <= i < 2] or [1]
    return out


def _small_per_layer(per_layer: dict[Any, Any], types: Any) -> dict[int, dict[str, Any]]:
    """A heterogeneous config's ``per_layer_config`` (``{layer index: field overrides}``,
    Gemma 4's wider full-attention heads, dots3's growing expert counts) for the 2 tiny
    layers: with ``layer_types``, each tiny layer takes the overrides of the first original
    layer of its type; without, the first two overridden layers'. Size fields are tiny."""
    entries = {int(k): v for k, v in per_layer.items() if isinstance(v, dict)}
    chosen: dict[int, dict[str, Any]] = {}
    if isinstance(types, (list, tuple)) and types:
        types = list(types)
        tiny_types = types[:2] if len(set(map(str, types))) == 1 else _both(types)
        for i, kind in enumerate(tiny_types):
            first = next(j for j, t in enumerate(types) if str(t) == str(kind))
            if first in entries:
                chosen[i] = entries[first]
    else:
        for i, j in enumerate(sorted(entries)[:2]):
            chosen[i] = entries[j]
    return {i: {k: SMALL.get(k, v) for k, v in fields.items()} for i, fields in chosen.items()}


def _both(types: list[Any]) -> list[Any]:
    """Two layer types out of a pattern that mixes them (the first two distinct ones)."""
    distinct = list({str(t): t for t in reversed(types)}.values())[::-1]
    return distinct[:2]


_ABSENT = object()


def _source(module: str) -> str:
    try:
        return inspect.getsource(importlib.import_module(module))
    except (OSError, TypeError, ImportError):
        return ""


def _modeling_modules(model_cls: Any, default: Any) -> list[str]:
    """The modeling module of ``model_cls`` and that of its language model's own family
    (GLM-4.6V's model module reuses GLM-4V's text model, whose rotary reads mrope_section)."""
    from transformers.models.auto.modeling_auto import MODEL_MAPPING_NAMES

    modules = [model_cls.__module__]
    text = getattr(default, "text_config", None)
    name = MODEL_MAPPING_NAMES.get(getattr(text, "model_type", ""))
    if isinstance(name, str):
        import transformers

        cls = getattr(transformers, name, None)
        if cls is not None:
            modules.append(cls.__module__)
    return modules


def _config(model_type: str, vocab: int, model_cls: Any, init: dict[str, dict[str, Any]]):
    """The tiny config; ``init`` ({sub-config or "." : fields}) is merged into the keyword
    arguments before construction, for fields the config's validators check there."""
    from transformers import CONFIG_MAPPING

    config_cls = CONFIG_MAPPING[model_type]
    default = config_cls()
    mrope = any("mrope_section" in _source(m) for m in _modeling_modules(model_cls, default))
    kwargs: dict[str, Any] = {}
    from transformers import PretrainedConfig

    subs = [n for n in vars(default) if isinstance(getattr(default, n), PretrainedConfig)]
    # a vision sub-config the default leaves None (Gemma 4: the text-only default) is built
    # from its class, or the model has no vision tower to answer with
    absent = {}
    if getattr(default, "vision_config", _ABSENT) is None:
        vision_cls = (getattr(config_cls, "sub_configs", None) or {}).get("vision_config")
        if isinstance(vision_cls, type):
            absent["vision_config"] = vision_cls()
            subs.append("vision_config")
    for name in subs:
        sub = absent.get(name) or getattr(default, name)
        small = _small_sub(sub, mrope and name == "text_config")
        if name == "text_config" or hasattr(sub, "vocab_size") and name != "vision_config":
            small["vocab_size"] = vocab
            if "vocab_size_per_layer_input" in sub.to_dict():  # Gemma 3n/4 per-layer embeddings
                small["vocab_size_per_layer_input"] = vocab
        kwargs[name] = {**sub.to_dict(), **small}
        for key in ("layer_types",):
            if key in sub.to_dict() and key not in small:
                kwargs[name].pop(key, None)
    top = default.to_dict()
    if not subs or ("text_config" not in subs and "num_hidden_layers" in top):
        # a single config (Fuyu, Chameleon …), or a vision sub-config beside top-level
        # language model fields (GIT): the language model's fields
        kwargs.update(_small_sub(default))
        kwargs["vocab_size"] = vocab
    text = getattr(default, "text_config", None)
    for key in ("hidden_size", "projection_dim"):  # top-level copies of the text width
        value = getattr(default, key, None)  # (PaliGemma's projector, Ovis 2's visual table)
        same = value == getattr(text, "hidden_size", None) or key == "hidden_size"
        if subs and isinstance(value, int) and same:
            kwargs[key] = SMALL["hidden_size"]
    text_width = kwargs.get("text_config", {}).get("hidden_size")
    for name in subs:  # a vision or adapter sub-config's copy of the text width (Inkling 2)
        if name != "text_config" and "text_hidden_size" in kwargs[name] and text_width:
            kwargs[name]["text_hidden_size"] = text_width
    for holder, values in init.items():
        if holder == ".":
            kwargs.update(values)
        else:
            kwargs[holder] = {**kwargs.get(holder, {}), **values}
    return config_cls(**kwargs)


_TOKEN_ATTR = re.compile(r"tokenizer\.(\w+_token)\b|getattr\(\s*tokenizer,\s*[\"'](\w+_token)[\"']")


def _token_attributes(obj: Any) -> list[str]:
    """Names of tokenizer attributes (``image_token`` …) that ``obj``'s module reads."""
    try:
        source = inspect.getsource(importlib.import_module(obj.__module__))
    except (OSError, TypeError, ImportError):
        return []
    names = {a or b for a, b in _TOKEN_ATTR.findall(source)}
    # add_bos_token / add_eos_token are switches (PaliGemma's processor sets them), not tokens
    return sorted(
        n for n in names if n not in ROLES and n != "mask_token" and not n.startswith("add_")
    )


def _tokenizer(specials: list[str], attributes: list[str]):
    """The tiny tokenizer: the roles, the harvested specials, and one ``<name>`` token per
    tokenizer attribute the processor reads (``tokenizer.image_token`` → ``<image_token>``)."""
    from pytest_fgbmk.models.tiny import _tokenizer as train

    roles = list(ROLES.values())
    named = {name: f"<{name}>" for name in attributes}
    ordered = list(dict.fromkeys(roles + specials + list(named.values())))
    return train(ordered, named, **ROLES)


#: What a family needs beyond the generic shrink: ``init`` ({sub-config or "." : fields}
#: given to the config's constructor, whose validators check them), ``config`` (the same,
#: set on the built config), ``processor`` and ``image_processor`` keyword arguments,
#: ``no_tokenizer_attributes`` (token attributes the tokenizer must not have),
#: ``processor_class`` (a transformers class name, where the mapping has none),
#: ``token_ids`` ({sub-config or "." : {config field: token or tokens}}: ids of fields whose
#: names do not follow the processor's attribute names), ``extra_tokens`` (special tokens
#: the source harvest misses), ``placeholder`` (the chat template's image text, for
#: processors that expand none). Gemma 3: its default SigLIP
#: tower (224 px / 16 px = 14 patches a side) cannot be pooled to the default 16x16 tokens.
OVERRIDES: dict[str, dict[str, Any]] = {
    # Gemma 4 Unified: an encoder-free vision embedder, 3840 wide (the rest is tiny already)
    "gemma4_unified": {"init": {"vision_config": {"mm_embed_dim": 32, "output_proj_dims": 32}}},
    # Florence-2: a 224 px image (the default image processor) through DaViT's 32 px stride (7 x 7) and one
    # pooled token
    "florence2": {"image_processor": {"image_seq_length": 50}},
    # DeepSeek-VL: the processor's default 576 tokens are a 384 px tower's; the default
    # SigLIP tower of the config takes 224 px in 16 px patches (196)
    "deepseek_vl": {"processor": {"num_image_tokens": 196}},
    "deepseek_vl_hybrid": {"processor": {"num_image_tokens": 196}},
    # Kimi-K2.5: the projector's norm is a top-level copy of the tower's width
    # and its DeepSeek-V3 language model rotates a 64-dim slice of each head (MLA): tiny too
    "kimi_k25": {
        "init": {
            ".": {"projection_hidden_size": 32},
            "text_config": {
                "qk_rope_head_dim": 16,
                "qk_nope_head_dim": 16,
                "v_head_dim": 16,
                "kv_lora_rank": 32,
                "q_lora_rank": 32,
            },
        }
    },
    # Aya Vision: the pixel shuffle halves the patch grid, which must be even (364 / 14 = 26;
    # the default 384 px gives 27)
    # and its processor's patch is the tower's (14 px) times that factor
    "aya_vision": {
        "init": {"vision_config": {"image_size": 364}},
        "processor": {"patch_size": 14, "downsample_factor": 2},
        "token_ids": {".": {"image_token_index": "<|IMG_PATCH|>"}},
    },
    # Llama 4: the pixel-shuffle adapter's input is the tower width / ratio² (32 / 0.25),
    # its output the projector's input
    "llama4": {
        "init": {
            "vision_config": {
                "intermediate_size": 128,
                "projector_input_dim": 32,
                "projector_output_dim": 32,
                "vision_output_dim": 32,
            }
        },
        "token_ids": {".": {"image_token_index": "<|patch|>"}},  # one per image feature
    },
    # PP-Chart2Table's processor expands nothing: its chat template holds the 256 image
    # pad tokens of GOT-OCR2 (whose model it runs)
    "pp_chart2table": {
        "extra_tokens": ("<imgpad>",),
        "token_ids": {".": {"image_token_index": "<imgpad>"}},
        "placeholder": "<imgpad>" * 256,
    },
    # Ovis 2: the processor writes <IMG_START>/<IMG_GRID> inside f-strings (not harvested);
    # the model's image token is the atom, its visual indicators the five structure tokens
    "ovis2": {
        "extra_tokens": ("<IMG_START>", "<IMG_GRID>"),
        "token_ids": {
            ".": {
                "image_token_id": "<IMG_ATOM>",
                "visual_indicator_token_ids": [
                    "<IMG_START>",
                    "<IMG_GRID>",
                    "<IMG_COL>",
                    "<IMG_ROW>",
                    "<IMG_END>",
                ],
            }
        },
    },
    # MiniCPM-V 4.6/4.7: the window merger sits after vision layer 6 of 27; with 2 layers
    # and the default it never runs, while the final merger still assumes it did
    "minicpmv4_6": {"init": {".": {"insert_layer_id": 0}}},
    "minicpmv4_7": {"init": {".": {"insert_layer_id": 0}}},
    # Molmo 2's adapter reads vision layers 24 and 18 of 25: the last and an earlier one
    # and its config names the tokens differently from its processor
    "molmo2": {
        "init": {"adapter_config": {"vision_feature_layer": [1, 0]}},
        "token_ids": {
            ".": {
                "image_patch_id": "<im_patch>",
                "image_start_token_id": "<im_start>",
                "low_res_image_start_token_id": "<low_res_im_start>",
                "image_end_token_id": "<im_end>",
                "frame_start_token_id": "<frame_start>",
                "frame_end_token_id": "<frame_end>",
            }
        },
    },
    # checkpoints of these name another family's processor (transformers maps none)
    "fast_vlm": {"processor_class": "LlavaProcessor"},
    "glm_ocr": {"processor_class": "Glm46VProcessor"},
    "glmga": {"processor_class": "Glm46VProcessor"},
    "mistral4": {"processor_class": "PixtralProcessor"},
    "kosmos-2": {"processor_class": "Kosmos2Processor"},
    "kosmos-2.5": {"processor_class": "Kosmos2_5Processor"},
    "qwen2_5_omni_thinker": {"processor_class": "Qwen2_5OmniProcessor"},
    "qwen3_omni_moe_thinker": {"processor_class": "Qwen3OmniMoeProcessor"},
    # (Instruct)BLIP(-2)'s processor reads its image token as an AddedToken it adds itself
    # when the tokenizer has none (a tokenizer's image_token is a str it cannot use)
    "instructblip": {"no_tokenizer_attributes": ("image_token",)},
    "blip-2": {"no_tokenizer_attributes": ("image_token",)},
    "instructblipvideo": {"no_tokenizer_attributes": ("image_token", "video_token")},
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


def _processor_from_config(processor, config, keep: Any = ()) -> None:
    """Processor fields the default constructor leaves None (LLaVA's ``patch_size``,
    ``vision_feature_select_strategy``) taken from the config; a CLIP tower's CLS token
    counted as an additional image token. ``keep``: fields the override set (kept)."""
    vision = getattr(config, "vision_config", None)
    for name in ("patch_size", "spatial_merge_size"):  # the tower's grid is the truth
        if name in keep:
            continue
        want = getattr(config, name, None)
        if want is None and vision is not None:
            want = getattr(vision, name, None)
        if isinstance(want, int) and isinstance(getattr(processor, name, None), int):
            setattr(processor, name, want)
    for name in ("patch_size", "vision_feature_select_strategy", "image_size", "num_query_tokens"):
        if hasattr(processor, name) and getattr(processor, name) is None:
            value = getattr(config, name, None)
            if value is None and vision is not None:
                value = getattr(vision, name, None)
            if value is not None:
                setattr(processor, name, value)
    side = getattr(vision, "image_size", None) if vision is not None else None
    patch = getattr(vision, "patch_size", None) if vision is not None else None
    if isinstance(side, int) and isinstance(patch, int):
        # one token per patch of the fixed-size tower (PaliGemma 224 px / 14 px: 256)
        if getattr(processor, "image_seq_length", 0) is None:
            processor.image_seq_length = (side // patch) ** 2
            processor.image_processor.image_seq_length = processor.image_seq_length
        if getattr(processor, "num_image_tokens", 0) is None:  # LLaVA-OneVision's base grid
            processor.num_image_tokens = (side // patch) ** 2
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


def _processor_class(model_type: str):
    """The family's processor class: the ``processor_class`` override (families whose
    checkpoints name another family's processor: FastVLM's LLaVA processor, GLM-OCR's
    GLM-4.6V one), else transformers' mapping; None when neither has one."""
    import transformers

    name = OVERRIDES.get(model_type, {}).get("processor_class")
    if name:
        return getattr(transformers, name)
    return _auto_class("processing_auto", "PROCESSOR_MAPPING_NAMES", model_type)


def _sub_processor_class(mapping: str, names: str, model_type: str, processor_cls: Any):
    """An image / video processor or feature extractor class for ``model_type``, else for
    the family the processor class comes from (Qwen3-VL-MoE and GLM-4V-MoE map only their
    processor; Diffusion Gemma uses Gemma 4's)."""
    found = _auto_class(mapping, names, model_type)
    if found is None:
        family = processor_cls.__module__.split(".")[
            -2
        ]  # transformers.models.<family>.processing_x
        found = _auto_class(mapping, names, family)
    return found


def _make_processor(model_type: str, tok, override: dict[str, Any], config: Any):
    import transformers

    processor_cls = _processor_class(model_type)
    if processor_cls is None:
        raise RuntimeError("no processor class for this model type")
    params = inspect.signature(processor_cls.__init__).parameters
    kwargs: dict[str, Any] = {}
    if "image_processor" in params:
        ip_cls = _sub_processor_class(
            "image_processing_auto", "IMAGE_PROCESSOR_MAPPING_NAMES", model_type, processor_cls
        )
        if ip_cls is None:
            raise RuntimeError("no image processor class for this model type")
        ip_kwargs = _sized_like_the_tower(ip_cls(), config)
        kwargs["image_processor"] = ip_cls(**{**ip_kwargs, **override.get("image_processor", {})})
    if "video_processor" in params:
        vp_cls = _sub_processor_class(
            "video_processing_auto", "VIDEO_PROCESSOR_MAPPING_NAMES", model_type, processor_cls
        )
        # sized like the tower too (InstructBLIP-Video's frames: 384 px for a 224 px tower)
        vp = vp_cls() if vp_cls is not None else None
        kwargs["video_processor"] = vp_cls(**_sized_like_the_tower(vp, config)) if vp else None
    if "feature_extractor" in params:
        fe_cls = _sub_processor_class(
            "feature_extraction_auto", "FEATURE_EXTRACTOR_MAPPING_NAMES", model_type, processor_cls
        )
        kwargs["feature_extractor"] = fe_cls() if fe_cls is not None else None
    kwargs["tokenizer"] = tok
    if "qformer_tokenizer" in params:  # InstructBLIP: the Q-Former reads the prompt too
        kwargs["qformer_tokenizer"] = copy.deepcopy(tok)
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
    (its image token, alone or between the image start and end tokens, the begin-of-image
    token of processors that expand it, or nothing for processors that insert the image
    tokens themselves)."""
    from PIL import Image

    image = Image.new("RGB", (32, 32), (120, 60, 30))
    candidates = [
        getattr(processor, name, None)
        for name in ("image_token", "boi_token", "image_placeholder", "fake_image_token")
    ]
    start, end = (getattr(processor, f"image_{x}_token", None) for x in ("start", "end"))
    if all(isinstance(t, str) for t in (start, end, candidates[0])):  # HunYuan-VL
        candidates.insert(1, f"{start}{candidates[0]}{end}")
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
            if type(text).__name__ == "AddedToken":  # InstructBLIP's processor keeps one
                text = str(text)
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
    processor_cls = _processor_class(model_type)
    config_cls = transformers.CONFIG_MAPPING[model_type]
    specials = sorted(
        set(
            _module_specials(processor_cls or config_cls)
            + _module_specials(config_cls)
            + _module_specials(model_cls)
        )
    )
    override = OVERRIDES.get(model_type, {})
    specials = sorted(set(specials) | set(override.get("extra_tokens", ())))
    attributes = _token_attributes(processor_cls) if processor_cls else []
    attributes = [a for a in attributes if a not in override.get("no_tokenizer_attributes", ())]
    tok = _tokenizer(specials, attributes)
    vocab = (len(tok) + 7) // 8 * 8
    config = _config(model_type, vocab, model_cls, override.get("init", {}))
    for holder, values in override.get("config", {}).items():
        target = config if holder == "." else getattr(config, holder)
        for key, value in values.items():
            setattr(target, key, value)
    processor = _make_processor(model_type, tok, override, config)
    _processor_from_config(processor, config, override.get("processor", {}))
    _match_resolution(config, processor)
    text = override.get("placeholder")
    processor.chat_template = _chat_template(text if text else _working_placeholder(processor))
    _point_token_ids(config, processor, tok)
    for holder, fields in override.get("token_ids", {}).items():
        target = config if holder == "." else getattr(config, holder)
        for field, token in fields.items():  # a token, or a list of them
            setattr(target, field, tok.convert_tokens_to_ids(token))
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
