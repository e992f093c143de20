"""Tiny randomly initialised image-text-to-text checkpoints, built locally from configs.

Each builder writes a complete checkpoint (config, weights, tokenizer, processor, chat
template, generation config) with ``save_pretrained`` into a folder, so that loading it
goes through the same ``from_pretrained`` path as a user's checkpoint. Nothing is
downloaded: tokenizers are trained here with the ``tokenizers`` library. Weights are
random, so answers are garbage, but deterministic (greedy decoding, fixed seed).

Families: ``llava`` (LLaVA-1.5 layout), ``qwen2_vl``, ``qwen2_5_vl``, ``internvl``
(InternVL3, transformers-native), ``blip2`` (OPT language model), ``idefics3`` and
``smolvlm``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_fgbmk.errors import ConfigError

if TYPE_CHECKING:
    from pytest_fgbmk.models.base import ModelAdapter
    from pytest_fgbmk.models.options import ModelOptions

#: Environment variable that overrides where cached tiny checkpoints live.
ENV_DIR = "FGBMK_MODELS_DIR"
#: Bumped whenever a builder changes, so that cached tiny checkpoints are rebuilt.
TINY_VERSION = "1"

#: Text the tiny byte-level BPE vocabularies are trained on (FG-BMK-like prompts).
_CORPUS = (
    "USER: ASSISTANT: Question: Answer: Is this a photo of a bird? Answer yes or no. "
    "What is the species of the bird in the image? Choose one option: A. B. C. D. "
    "Which genus does the animal belong to? Does the bird have a red wing color? "
    "The aircraft manufacturer is Boeing Airbus. The car make model year. "
    "True or false: the flower in this picture is a rose. Reply with the letter only."
)

# Small dimensions shared by the language models.
_TEXT_DIMS: dict[str, Any] = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 1024,
}

_LLAVA_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}"
    "{% for c in message['content'] %}{{ c['text'] }}{% endfor %}{{ '\\n' }}"
    "{% else %}"
    "{{ message['role'].upper() }}: "
    "{% for c in message['content'] %}{% if c['type'] == 'image' %}<image>\n{% endif %}{% endfor %}"
    "{% for c in message['content'] %}{% if c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}"
    "{% if message['role'] == 'assistant' %}</s>{% else %} {% endif %}"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)

_QWEN_TEMPLATE = (
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for c in message['content'] %}"
    "{% if c['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

_INTERNVL_TEMPLATE = (
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for c in message['content'] %}"
    "{% if c['type'] == 'image' %}<IMG_CONTEXT>\n"
    "{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

_IDEFICS3_TEMPLATE = (
    "<|im_start|>"
    "{% for message in messages %}"
    "{{ message['role'] | capitalize }}"
    "{% if message['content'][0]['type'] == 'image' %}:{% else %}: {% endif %}"
    "{% for c in message['content'] %}"
    "{% if c['type'] == 'text' %}{{ c['text'] }}{% elif c['type'] == 'image' %}<image>{% endif %}"
    "{% endfor %}<end_of_utterance>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}Assistant:{% endif %}"
)


def _tokenizer(specials: list[str], extra: dict[str, str], **roles: str):
    """A byte-level BPE tokenizer trained on a few FG-BMK-like sentences.

    ``specials`` become single special tokens; ``extra`` names some of them as
    attributes (``image_token`` …); ``roles`` sets bos/eos/pad/unk.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=384,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator([_CORPUS], trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, extra_special_tokens=extra or None, **roles
    )


def _vocab_size(tokenizer) -> int:
    """Embedding rows: the tokenizer's length rounded up to a multiple of 8."""
    return (len(tokenizer) + 7) // 8 * 8


def _generation_config(tokenizer, eos: str):
    from transformers import GenerationConfig

    return GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.convert_tokens_to_ids(eos),
        pad_token_id=tokenizer.pad_token_id,
        do_sample=False,
        max_new_tokens=16,
    )


def _save(model, processor, tokenizer, eos: str, out_dir: Path) -> None:
    model.generation_config = _generation_config(tokenizer, eos)
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)


#: The tiny LLaVA's towers: a 3-layer CLIP ViT on 32 px images (16 patches of 8 px).
TINY_LLAVA_VISION: dict[str, Any] = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 3,
    "num_attention_heads": 2,
    "image_size": 32,
    "patch_size": 8,
    "projection_dim": 32,
}


def build_llava(
    out_dir: Path,
    *,
    vision: dict[str, Any] | None = None,
    text: dict[str, Any] | None = None,
    vocab_size: int | None = None,
    device: str = "cpu",
    dtype: Any = None,
) -> Path:
    """Write a random LLaVA-1.5-layout checkpoint (CLIP vision tower + Llama).

    ``vision`` / ``text`` are ``CLIPVisionConfig`` / ``LlamaConfig`` keyword arguments
    (tiny by default); ``vocab_size`` pads the tokenizer with filler tokens up to a
    realistic vocabulary, so that every id the model can emit decodes to text. The
    model is initialised on ``device`` and saved in ``dtype``. The caller seeds torch.
    """
    import torch
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )

    tok = _tokenizer(
        ["<unk>", "<s>", "</s>", "<pad>", "<image>"],
        {"image_token": "<image>"},
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
    )
    if vocab_size is not None and vocab_size > len(tok):
        tok.add_tokens([f"<w{i}>" for i in range(vocab_size - len(tok))])
    vision_config = CLIPVisionConfig(**(vision or TINY_LLAVA_VISION))
    text_config = LlamaConfig(
        **{
            **_TEXT_DIMS,
            **(text or {}),
            "vocab_size": _vocab_size(tok),
            "bos_token_id": tok.bos_token_id,
            "eos_token_id": tok.eos_token_id,
            "pad_token_id": tok.pad_token_id,
        }
    )
    side, patch = vision_config.image_size, vision_config.patch_size
    config = LlavaConfig(
        vision_config=vision_config,
        text_config=text_config,
        image_token_id=tok.convert_tokens_to_ids("<image>"),
        vision_feature_layer=-2,
        vision_feature_select_strategy="default",
        image_seq_length=(side // patch) ** 2,
    )
    image_processor = CLIPImageProcessor(
        size={"shortest_edge": side}, crop_size={"height": side, "width": side}
    )
    processor = LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tok,
        patch_size=patch,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=_LLAVA_TEMPLATE,
    )
    with torch.device(device):
        model = LlavaForConditionalGeneration(config)
    if dtype is not None:
        model.to(dtype)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _save(model, processor, tok, "</s>", out_dir)
    return out_dir


def _qwen_tokenizer():
    specials = [
        "<|endoftext|>",
        "<|im_start|>",
        "<|im_end|>",
        "<|vision_start|>",
        "<|vision_end|>",
        "<|image_pad|>",
        "<|video_pad|>",
    ]
    return _tokenizer(
        specials,
        {"image_token": "<|image_pad|>", "video_token": "<|video_pad|>"},
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
    )


def _build_qwen(out_dir: Path, version: str) -> None:
    import transformers as tf

    if version == "2.5":
        config_cls, model_cls = tf.Qwen2_5_VLConfig, tf.Qwen2_5_VLForConditionalGeneration
        processor_cls = tf.Qwen2_5_VLProcessor
        vision: dict[str, Any] = {
            "depth": 2,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_heads": 2,
            "out_hidden_size": _TEXT_DIMS["hidden_size"],
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "window_size": 56,
            "fullatt_block_indexes": [1],
        }
    else:
        config_cls, model_cls = tf.Qwen2VLConfig, tf.Qwen2VLForConditionalGeneration
        processor_cls = tf.Qwen2VLProcessor
        vision = {
            "depth": 2,
            "embed_dim": 32,
            "hidden_size": _TEXT_DIMS["hidden_size"],
            "mlp_ratio": 2,
            "num_heads": 2,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
        }
    tok = _qwen_tokenizer()
    ids = tok.convert_tokens_to_ids
    head_half = _TEXT_DIMS["hidden_size"] // _TEXT_DIMS["num_attention_heads"] // 2
    text = dict(
        _TEXT_DIMS,
        vocab_size=_vocab_size(tok),
        eos_token_id=ids("<|im_end|>"),
        pad_token_id=tok.pad_token_id,
        bos_token_id=ids("<|endoftext|>"),
        rope_parameters={
            "rope_type": "default",
            "rope_theta": 10000.0,
            "mrope_section": [head_half - 2 * (head_half // 3), head_half // 3, head_half // 3],
        },
    )
    config = config_cls(
        vision_config=vision,
        text_config=text,
        image_token_id=ids("<|image_pad|>"),
        video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"),
        vision_end_token_id=ids("<|vision_end|>"),
    )
    # 56x56 .. 112x112 pixels: 4 to 16 patches of 14 px, 1 to 4 tokens after the 2x2 merge.
    image_processor = tf.Qwen2VLImageProcessor(
        min_pixels=56 * 56, max_pixels=112 * 112, patch_size=14, merge_size=2
    )
    video_processor = tf.Qwen2VLVideoProcessor(
        min_pixels=56 * 56, max_pixels=112 * 112, patch_size=14, merge_size=2
    )
    processor = processor_cls(
        image_processor=image_processor,
        tokenizer=tok,
        video_processor=video_processor,
        chat_template=_QWEN_TEMPLATE,
    )
    model = model_cls(config)
    _save(model, processor, tok, "<|im_end|>", out_dir)


def _build_internvl(out_dir: Path) -> None:
    import transformers as tf

    tok = _tokenizer(
        [
            "<|endoftext|>",
            "<|im_start|>",
            "<|im_end|>",
            "<img>",
            "</img>",
            "<IMG_CONTEXT>",
            "<video>",
        ],
        {
            "start_image_token": "<img>",
            "end_image_token": "</img>",
            "context_image_token": "<IMG_CONTEXT>",
            "video_token": "<video>",
        },
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
    )
    ids = tok.convert_tokens_to_ids
    vision = tf.InternVLVisionConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=3,
        num_attention_heads=2,
        image_size=[56, 56],
        patch_size=[14, 14],
    )
    text = tf.Qwen2Config(
        vocab_size=_vocab_size(tok),
        eos_token_id=ids("<|im_end|>"),
        pad_token_id=tok.pad_token_id,
        bos_token_id=ids("<|endoftext|>"),
        **_TEXT_DIMS,
    )
    # 56 px / 14 px = 4x4 patches, pixel-shuffled by 0.5 into 2x2 = 4 image tokens.
    config = tf.InternVLConfig(
        vision_config=vision,
        text_config=text,
        image_token_id=ids("<IMG_CONTEXT>"),
        image_seq_length=4,
        downsample_ratio=0.5,
        vision_feature_layer=-1,
        vision_feature_select_strategy="default",
        # Untied: with tied embeddings the tiny random model only ever says "\n".
        tie_word_embeddings=False,
    )
    image_processor = tf.GotOcr2ImageProcessor(
        size={"height": 56, "width": 56}, crop_to_patches=False, max_patches=2
    )
    processor = tf.InternVLProcessor(
        image_processor=image_processor,
        tokenizer=tok,
        video_processor=tf.InternVLVideoProcessor(size={"height": 56, "width": 56}),
        image_seq_length=4,
        chat_template=_INTERNVL_TEMPLATE,
    )
    model = tf.InternVLForConditionalGeneration(config)
    _save(model, processor, tok, "<|im_end|>", out_dir)


def _build_blip2(out_dir: Path) -> None:
    import transformers as tf

    # No image_token attribute: Blip2Processor registers "<image>" itself, as in the
    # released checkpoints.
    tok = _tokenizer(
        ["<pad>", "</s>", "<unk>", "<image>"],
        {},
        bos_token="</s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
    )
    vision = tf.Blip2VisionConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=32,
        patch_size=8,
    )
    qformer = tf.Blip2QFormerConfig(
        vocab_size=_vocab_size(tok),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        encoder_hidden_size=32,
    )
    text = tf.OPTConfig(
        vocab_size=_vocab_size(tok),
        hidden_size=64,
        ffn_dim=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=512,
        word_embed_proj_dim=64,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    config = tf.Blip2Config(
        vision_config=vision,
        qformer_config=qformer,
        text_config=text,
        num_query_tokens=4,
        image_token_index=tok.convert_tokens_to_ids("<image>"),
    )
    image_processor = tf.BlipImageProcessor(size={"height": 32, "width": 32})
    processor = tf.Blip2Processor(
        image_processor=image_processor, tokenizer=tok, num_query_tokens=4
    )
    model = tf.Blip2ForConditionalGeneration(config)
    _save(model, processor, tok, "</s>", out_dir)


def _idefics_tokenizer():
    return _tokenizer(
        [
            "<|endoftext|>",
            "<|im_start|>",
            "<end_of_utterance>",
            "<fake_token_around_image>",
            "<image>",
            "<global-img>",
            "<video>",
        ],
        {
            "image_token": "<image>",
            "fake_image_token": "<fake_token_around_image>",
            "global_image_token": "<global-img>",
            "end_of_utterance_token": "<end_of_utterance>",
            "video_token": "<video>",
        },
        bos_token="<|im_start|>",
        eos_token="<end_of_utterance>",
        pad_token="<|endoftext|>",
    )


def _build_idefics(out_dir: Path, smol: bool) -> None:
    import transformers as tf

    tok = _idefics_tokenizer()
    ids = tok.convert_tokens_to_ids
    vision = {
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "image_size": 32,
        "patch_size": 8,
    }
    text = tf.LlamaConfig(
        vocab_size=_vocab_size(tok),
        bos_token_id=tok.bos_token_id,
        eos_token_id=ids("<end_of_utterance>"),
        pad_token_id=tok.pad_token_id,
        **_TEXT_DIMS,
    )
    size = {"longest_edge": 32}
    # 32 px / 8 px = 4x4 patches, pixel-shuffled by 2 into 4 image tokens.
    common = dict(image_seq_len=4, chat_template=_IDEFICS3_TEMPLATE)
    if smol:
        config = tf.SmolVLMConfig(
            vision_config=vision, text_config=text, scale_factor=2, image_token_id=ids("<image>")
        )
        image_processor = tf.SmolVLMImageProcessor(
            do_image_splitting=False, size=size, max_image_size=size
        )
        processor = tf.SmolVLMProcessor(
            image_processor=image_processor,
            tokenizer=tok,
            video_processor=tf.SmolVLMVideoProcessor(size=size, max_image_size=size),
            **common,
        )
        model = tf.SmolVLMForConditionalGeneration(config)
    else:
        config = tf.Idefics3Config(
            vision_config=vision, text_config=text, scale_factor=2, image_token_id=ids("<image>")
        )
        image_processor = tf.Idefics3ImageProcessor(
            do_image_splitting=False, size=size, max_image_size=size
        )
        processor = tf.Idefics3Processor(image_processor=image_processor, tokenizer=tok, **common)
        model = tf.Idefics3ForConditionalGeneration(config)
    _save(model, processor, tok, "<end_of_utterance>", out_dir)


_BUILDERS: dict[str, Callable[[Path], Any]] = {
    "llava": build_llava,
    "qwen2_vl": lambda out: _build_qwen(out, "2"),
    "qwen2_5_vl": lambda out: _build_qwen(out, "2.5"),
    "internvl": _build_internvl,
    "blip2": _build_blip2,
    "idefics3": lambda out: _build_idefics(out, smol=False),
    "smolvlm": lambda out: _build_idefics(out, smol=True),
}

#: The families :func:`build_tiny` can build.
FAMILIES = tuple(_BUILDERS)


def build_tiny(family: str, out_dir: Path, seed: int = 0) -> Path:
    """Write a tiny random checkpoint of ``family`` into ``out_dir`` and return it.

    The same family and seed give the same weights. Takes a few seconds on a CPU.
    """
    import torch

    if family not in _BUILDERS:
        raise ConfigError(
            f"unknown tiny model family {family!r}; choose one of {', '.join(FAMILIES)}"
        )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        _BUILDERS[family](out_dir)
    return out_dir


def tiny_cache_dir(family: str = "llava") -> Path:
    """Where the shared tiny checkpoint of ``family`` is cached (built on first use):
    ``$FGBMK_MODELS_DIR/tiny-<family>-<version>``, else under the user cache folder."""
    from platformdirs import user_cache_dir

    env = os.environ.get(ENV_DIR)
    root = Path(env) if env else Path(user_cache_dir("pytest-fgbmk")) / "models"
    return root / f"tiny-{family}-{TINY_VERSION}"


def ensure_tiny(family: str = "llava") -> Path:
    """The cached tiny checkpoint of ``family``, built once (atomic rename into place)."""
    final = tiny_cache_dir(family)
    if (final / "config.json").is_file():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=final.parent))
    try:
        build_tiny(family, staging)
        try:
            staging.rename(final)
        except OSError:
            # Another process finished first: its checkpoint is identical.
            if not (final / "config.json").is_file():
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return final


def load_tiny_llava(options: ModelOptions) -> ModelAdapter:
    """The built-in ``tiny-llava`` model: a tiny random LLaVA loaded through the ``hf:``
    adapter. Its fingerprint hashes the files' contents, so that it is the same on every
    machine that builds the same checkpoint (baselines of it travel)."""
    from pytest_fgbmk.models.hf import HF_ARGS, HfVisionLanguageModel, content_fingerprint

    options.check_extra("tiny-llava", HF_ARGS)
    options.check_device()
    path = ensure_tiny("llava")
    model = HfVisionLanguageModel(
        str(path),
        path,
        "llava",
        options,
        name="tiny-llava",
        fingerprint=f"tiny-llava:{TINY_VERSION}:{content_fingerprint(path, options)}",
    )
    model.implementation = f"tiny_llava={TINY_VERSION}"
    return model
