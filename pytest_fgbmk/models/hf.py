"""The ``hf:`` adapter: transformers image-text-to-text models, and dispatch to encoders.

``load_hf(target, options)`` reads the checkpoint's config and returns either
:class:`HfVisionLanguageModel` (``AutoProcessor`` + ``AutoModelForImageTextToText``:
chat template, batched greedy ``generate``) or, for a vision encoder (CLIP/SigLIP vision
towers, DINOv2 …), ``pytest_fgbmk.models.hf_encoder.load_hf_encoder``.

Batches: images go to the processor as one list per sample (``[[img], [img], …]``; the
processors of Gemma 3/4, Mllama, LFM2-VL count images per sample, the others flatten);
prompts are padded on the left for decoder-only models and on the right for
encoder-decoders (Florence-2, T5Gemma 2), whose encoder would otherwise see moved
positions. Every image-text-to-text family of the installed transformers is swept with a
tiny checkpoint (``tests/models/test_models_families.py``; the README lists the families
that answer in batches and those known not to, with the reason).

Family options (``--fgbmk-model-arg key=value``): ``image_size`` (dynamic-resolution
families, whose image processor bounds the pixel count (Qwen2/2.5/3-VL, Qwen3.5, GLM-4V
…): max pixels = size²; Kimi-K2.5: max height and width; Idefics3/SmolVLM: longest edge;
fixed-size towers refuse it), ``min_pixels`` / ``max_pixels`` (dynamic-resolution
families only), ``max_patches`` (InternVL tiles), ``do_image_splitting``
(Idefics3/SmolVLM), ``prompt_format`` (a string with ``{prompt}``, used instead of the
chat template), ``device_map`` (``auto``, ``balanced``, ``balanced_low_0`` or
``sequential``: a model larger than one GPU is placed over all of them by accelerate, in
one process) and ``fixed_new_tokens`` (every answer exactly N new tokens, or per question
type ``tf:1,mc:1,sa:8``: for throughput measurements of untrained weights, which never
stop by themselves; :func:`parse_fixed_new_tokens`). An option the family has no use for is refused with its name; any other
model arg is refused, naming those accepted.

``encode`` (origin vs aligned features, the paper's Table 4) is available for LLaVA,
InternVL and BLIP-2: ``cls`` and ``patch_mean`` of the vision layer the projector reads,
``blocks`` (CLS of the last four vision layers) and ``aligned`` (what enters the language
model: the projector output, or BLIP-2's projected Q-Former queries, mean-pooled).
Qwen2/2.5-VL and Idefics3/SmolVLM towers have no CLS token: they answer only.
"""

from __future__ import annotations

import gc
import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_fgbmk.data.images import to_rgb
from pytest_fgbmk.errors import ConfigError, ModelError
from pytest_fgbmk.models.base import AnswerRequest, GenerationSettings, ModelAdapter, Preprocessing

if TYPE_CHECKING:
    import torch
    from PIL import Image

    from pytest_fgbmk.models.options import ModelOptions

DEFAULT_BATCH_SIZE = 8
REMOTE_CODE_HINT = "--fgbmk-model-arg trust_remote_code=true"
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf", ".h5", ".msgpack")
#: Small files that change outputs: hashed by content (weights only by name/size/mtime).
TEXT_FILES = (
    "config.json",
    "generation_config.json",
    "preprocessor_config.json",
    "processor_config.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
    "chat_template.json",
    "video_preprocessor_config.json",
)
#: Families whose prompt is not a chat: the processor inserts the image tokens itself.
PROMPT_FORMATS = {"blip-2": "Question: {prompt} Answer:", "instructblip": "{prompt}"}
#: Families whose processor takes one list of images per sample (idefics2/3 and smolvlm
#: size options apply to them).
NESTED_IMAGES = ("idefics2", "idefics3", "smolvlm")
#: Families whose processor wants a flat list of images (one per sample, not nested):
#: every other family gets ``[[image], [image], …]``, which processors that flatten accept
#: and those that count images per sample (gemma3, gemma4, mllama, lfm2_vl …) require.
FLAT_IMAGES: tuple[str, ...] = ("got_ocr2", "pp_chart2table")
#: Families with a CLS-bearing vision tower whose projector output ``encode`` returns.
ENCODE_FAMILIES = ("llava", "internvl", "blip-2")
#: Model args a vision-language checkpoint reads (besides the common options).
HF_ARGS = (
    "min_pixels",
    "max_pixels",
    "max_patches",
    "do_image_splitting",
    "prompt_format",
    "device_map",
    "fixed_new_tokens",
)
#: Question types ``fixed_new_tokens`` may name (those of ``questions/records.py``).
FIXED_TOKEN_TYPES = ("tf", "mc", "sa")
#: ``device_map`` values: accelerate places the layers over every visible GPU (then CPU).
DEVICE_MAPS = ("auto", "balanced", "balanced_low_0", "sequential")
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+$")


def load_hf(target: str, options: ModelOptions) -> ModelAdapter:
    """Load ``hf:TARGET`` (a folder, or a repo id already in the Hugging Face cache)."""
    path = resolve_checkpoint(target)
    config = _read_config_json(path)
    model_type = str(config.get("model_type", ""))
    auto_map = config.get("auto_map")
    if auto_map and checkpoint_kind(model_type, config) == "other":
        # asking for trust_remote_code first would only lead to this refusal afterwards
        names = ", ".join(sorted(auto_map)) if isinstance(auto_map, dict) else str(auto_map)
        raise ModelError(
            f"hf:{target}: model_type {model_type!r} is custom code whose config.json auto_map"
            f" ({names}) has no AutoModelForImageTextToText, so it cannot answer here even"
            " with trust_remote_code; use the transformers-native version of the checkpoint"
            " (e.g. the '-hf' repo)"
        )
    if auto_map and not options.trust_remote_code:
        raise ModelError(
            f"hf:{target} needs custom code from the checkpoint (config.json has auto_map"
            f" for model_type {model_type!r}); if you trust it, pass {REMOTE_CODE_HINT},"
            " or use the transformers-native version of the checkpoint (e.g. the '-hf' repo)"
        )
    kind = checkpoint_kind(model_type, config)
    if kind == "encoder":
        from pytest_fgbmk.models.hf_encoder import load_hf_encoder

        return load_hf_encoder(target, options)
    if kind != "image-text-to-text":
        raise ModelError(
            f"hf:{target}: model_type {model_type!r} is neither an image-text-to-text model"
            " nor a vision encoder; pass a vision-language checkpoint (LLaVA, Qwen2.5-VL,"
            " InternVL3-hf, BLIP-2, Idefics3/SmolVLM …) or a vision encoder (CLIP, SigLIP, DINOv2)"
        )
    options.check_extra("hf: (vision-language model)", HF_ARGS)
    options.check_device()
    _device_map(options)
    parse_fixed_new_tokens(options.extra.get("fixed_new_tokens"))
    return HfVisionLanguageModel(target, path, model_type, options)


def resolve_checkpoint(target: str) -> Path:
    """The local folder of ``target``; a repo id must already be in the HF cache.

    Never downloads: a missing checkpoint is a :class:`ModelError` saying how to fetch it.
    """
    if not target:
        raise ConfigError("hf: needs a checkpoint folder or repo id, e.g. hf:/models/llava")
    path = Path(target).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelError(
                f"hf:{target}: the folder has no config.json; point hf: at the folder that"
                " save_pretrained wrote (config.json next to the weights)"
            )
        return path.resolve()
    if path.exists():
        raise ModelError(f"hf:{target} is a file; pass the checkpoint folder that holds it")
    if not _REPO_ID.match(target):
        raise ModelError(
            f"hf:{target}: no such folder, and it is not a repo id (owner/name); check the path"
        )
    from huggingface_hub import snapshot_download

    try:
        local = snapshot_download(target, local_files_only=True)
    except Exception as e:  # LocalEntryNotFoundError, OfflineModeIsEnabled, validation errors
        raise ModelError(
            f"hf:{target} is not on disk (not a folder and not in the Hugging Face cache;"
            f" {type(e).__name__}); nothing is downloaded at run time: fetch it first with"
            f" `hf download {target}` (or `huggingface-cli download {target}`), or pass"
            " hf:/path/to/the/folder"
        ) from None
    path = Path(local)
    if not (path / "config.json").is_file():
        raise ModelError(
            f"hf:{target}: the cached snapshot {path} has no config.json; fetch the full"
            f" repo with `hf download {target}`"
        )
    return path


def _read_config_json(path: Path) -> dict[str, Any]:
    file = path / "config.json"
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelError(f"{file}: cannot be read as JSON ({e}); re-save the checkpoint") from None
    if not isinstance(data, dict):
        raise ModelError(f"{file}: expected a JSON object; re-save the checkpoint")
    return data


def checkpoint_kind(model_type: str, config: dict[str, Any]) -> str:
    """``image-text-to-text``, ``encoder`` or ``other`` for a config's ``model_type``."""
    from transformers.models.auto import modeling_auto as auto

    if model_type in auto.MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES:
        return "image-text-to-text"
    if (
        model_type in auto.MODEL_FOR_IMAGE_MAPPING_NAMES
        or model_type in auto.MODEL_FOR_ZERO_SHOT_IMAGE_CLASSIFICATION_MAPPING_NAMES
        or model_type.endswith("_vision_model")
    ):
        return "encoder"
    if "auto_map" in config and "AutoModelForImageTextToText" in config["auto_map"]:
        return "image-text-to-text"
    return "other"


def checkpoint_fingerprint(path: Path, options: ModelOptions) -> str:
    """Hash of the small config files' contents, the weight files' names, sizes and
    mtimes (the weights are never read), and the options that change outputs."""
    h = hashlib.sha256()
    for name in TEXT_FILES:
        file = path / name
        if file.is_file():
            h.update(name.encode() + b"\0" + file.read_bytes() + b"\0")
    for file in sorted(path.rglob("*")):
        if file.is_file() and (file.suffix in WEIGHT_SUFFIXES or file.name == "tokenizer.json"):
            st = file.stat()
            rel = file.relative_to(path).as_posix()
            h.update(f"{rel}:{st.st_size}:{st.st_mtime_ns}\0".encode())
    h.update(options.key().encode())
    return h.hexdigest()[:16]


def content_fingerprint(path: Path, options: ModelOptions) -> str:
    """Hash of every file's name and bytes (for small checkpoints: the same weights give
    the same fingerprint on every machine, whatever the mtimes), plus the options."""
    h = hashlib.sha256()
    for file in sorted(path.rglob("*")):
        if file.is_file():
            h.update(file.relative_to(path).as_posix().encode() + b"\0")
            h.update(hashlib.sha256(file.read_bytes()).digest())
    h.update(options.key().encode())
    return h.hexdigest()[:16]


def parse_fixed_new_tokens(raw: Any) -> dict[str, int] | None:
    """The ``fixed_new_tokens`` model arg: new tokens per question type, or None (not given).

    ``N`` (a whole number, 1 to 4096) forces N tokens for every type; ``tf:1,mc:1,sa:8``
    names each of :data:`FIXED_TOKEN_TYPES` once. A batch is then generated for exactly
    the largest count among its requests (``min_new_tokens = max_new_tokens``: end-of-text
    is suppressed until then) and each answer is cut to its own type's count, which is what
    batched ``generate`` costs a trained model that stops after that many tokens (the batch
    runs until its longest answer ends). Raises :class:`ConfigError` naming the model arg.
    """
    if raw is None:
        return None
    text = str(raw).strip()
    usage = "give a count (fixed_new_tokens=8) or one per question type (fixed_new_tokens=tf:1,mc:1,sa:8)"
    if ":" not in text:
        return dict.fromkeys(FIXED_TOKEN_TYPES, _token_count(text, usage))
    counts: dict[str, int] = {}
    for part in text.split(","):
        qtype, sep, value = part.strip().partition(":")
        qtype = qtype.strip()
        if not sep or qtype not in FIXED_TOKEN_TYPES:
            raise ConfigError(
                f"model arg fixed_new_tokens={text!r}: {part.strip()!r} does not name a question"
                f" type ({', '.join(FIXED_TOKEN_TYPES)}); {usage}"
            )
        if qtype in counts:
            raise ConfigError(f"model arg fixed_new_tokens={text!r} names {qtype} twice; {usage}")
        counts[qtype] = _token_count(value.strip(), usage, text)
    missing = [t for t in FIXED_TOKEN_TYPES if t not in counts]
    if missing:
        raise ConfigError(
            f"model arg fixed_new_tokens={text!r} leaves out {', '.join(missing)}; {usage}"
        )
    return counts


def _token_count(value: str, usage: str, whole: str | None = None) -> int:
    shown = whole if whole is not None else value
    try:
        count = int(value)
    except ValueError:
        raise ConfigError(
            f"model arg fixed_new_tokens={shown!r}: {value!r} is not a whole number; {usage}"
        ) from None
    if not 1 <= count <= 4096:
        raise ConfigError(
            f"model arg fixed_new_tokens={shown!r}: counts go from 1 to 4096, got {count}"
        )
    return count


def _is_oom(error: BaseException) -> bool:
    import torch

    return isinstance(error, torch.OutOfMemoryError) or "out of memory" in str(error).lower()


class HfVisionLanguageModel(ModelAdapter):
    """A transformers image-text-to-text model answering batches of (image, prompt)."""

    can_answer = True
    #: What it answers changes with these (``device_map`` only places the same layers).
    recorded_args = tuple(a for a in HF_ARGS if a != "device_map")

    def __init__(
        self,
        target: str,
        path: Path,
        model_type: str,
        options: ModelOptions,
        *,
        name: str | None = None,
        fingerprint: str | None = None,
    ) -> None:
        self.name = name or f"hf:{target}"
        self.path = path
        self.model_type = model_type
        self.options = options
        self.batch_size = options.batch_size or DEFAULT_BATCH_SIZE
        self.can_encode = model_type in ENCODE_FAMILIES
        self._fingerprint = (
            fingerprint or f"hf:{model_type}:{checkpoint_fingerprint(path, options)}"
        )
        self.device = _available_device(options)
        self.dtype = options.torch_dtype()
        self.processor = self._load_processor()
        self.model = self._load_model()
        # Decoder-only models generate after the prompt: left padding keeps the prompts'
        # ends aligned. An encoder-decoder (Florence-2, T5Gemma 2 …) encodes the prompt:
        # right padding keeps the real tokens' positions, left padding moves them.
        self.processor.tokenizer.padding_side = "right" if _encoder_decoder(self.model) else "left"
        self.prompt_format = self._prompt_format()
        self.fixed_new_tokens = parse_fixed_new_tokens(options.extra.get("fixed_new_tokens"))

    # -- loading ---------------------------------------------------------------------

    def _processor_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for the processor of families whose options are known before
        it is loaded (InternVL tiles, Idefics/SmolVLM edges); the others are resolved
        against the loaded image processor (:meth:`_resized`)."""
        opts, extra = self.options, self.options.extra
        kwargs: dict[str, Any] = {}
        if self.model_type == "internvl":
            if "max_patches" in extra:
                kwargs["max_patches"] = _int_option("max_patches", extra["max_patches"])
            if opts.image_size is not None:
                raise ConfigError(
                    f"{self.name}: image_size is fixed by InternVL's vision tower; use"
                    " --fgbmk-model-arg max_patches=N to change how many tiles an image gets"
                )
        elif "max_patches" in extra:
            raise ConfigError(
                f"{self.name}: max_patches is an InternVL option; {self.model_type!r} has no"
                " tiles to limit: remove the max_patches model argument"
            )
        if self.model_type in NESTED_IMAGES:
            if opts.image_size is not None:
                kwargs["size"] = {"longest_edge": opts.image_size}
            if "do_image_splitting" in extra:
                kwargs["do_image_splitting"] = _bool_option(
                    "do_image_splitting", extra["do_image_splitting"]
                )
        elif "do_image_splitting" in extra:
            raise ConfigError(
                f"{self.name}: do_image_splitting is an Idefics/SmolVLM option, not one of"
                f" {self.model_type!r}: remove the do_image_splitting model argument"
            )
        return kwargs

    def _resized(self, processor: Any) -> dict[str, Any] | None:
        """The ``size`` to reload the processor with for ``image_size`` / ``min_pixels`` /
        ``max_pixels`` (None: keep it), or a :class:`ConfigError` naming what the family
        takes instead. Dynamic-resolution families (Qwen2/2.5/3-VL, Qwen3.5, GLM-4V …)
        bound the pixel count; Kimi-K2.5-style processors bound the height and width."""
        opts, extra = self.options, self.options.extra
        if self.model_type in NESTED_IMAGES or self.model_type == "internvl":
            return None
        ip = getattr(processor, "image_processor", None)
        budget = ip is not None and _pixel_budget(ip)
        if budget:
            return self._qwen_size(ip.size)
        for key in ("min_pixels", "max_pixels"):
            if key in extra:
                raise ConfigError(
                    f"{self.name}: {key} is an option of dynamic-resolution families (Qwen-VL,"
                    f" GLM-4V …); {self.model_type!r} has no pixel budget: remove the {key}"
                    " model argument"
                )
        if opts.image_size is None:
            return None
        size = getattr(ip, "size", None)
        if _get(size, "max_height") and _get(size, "max_width"):
            return {"max_height": opts.image_size, "max_width": opts.image_size}
        raise ConfigError(
            f"{self.name}: image_size cannot be changed for {self.model_type!r}: its"
            " vision tower takes a fixed input size; remove the image_size model argument"
        )

    def _qwen_size(self, saved: Any) -> dict[str, int] | None:
        """A pixel-budget family's range (``size`` shortest/longest edge hold min/max pixels)."""
        opts, extra = self.options, self.options.extra
        low = _int_option("min_pixels", extra["min_pixels"]) if "min_pixels" in extra else None
        high = _int_option("max_pixels", extra["max_pixels"]) if "max_pixels" in extra else None
        if high is None and opts.image_size is not None:
            high = opts.image_size * opts.image_size
        if low is None and high is None:
            return None
        low = low if low is not None else min(int(saved.shortest_edge), high or 0) or None
        high = high if high is not None else int(saved.longest_edge)
        if low is None or low > high:
            raise ConfigError(
                f"{self.name}: min_pixels ({low}) must not exceed max_pixels ({high});"
                " check the image_size / min_pixels / max_pixels model arguments"
            )
        return {"shortest_edge": low, "longest_edge": high}

    def _load_processor(self):
        kwargs = self._processor_kwargs()
        processor = self._from_pretrained_processor(kwargs)
        size = self._resized(processor)
        if size is not None:
            processor = self._from_pretrained_processor({**kwargs, "size": size})
            ip = processor.image_processor
            if any(_get(ip.size, k) != v for k, v in size.items()):
                raise ConfigError(
                    f"{self.name}: the {type(ip).__name__} of {self.model_type!r} did not take"
                    f" size={size}; remove the image_size / min_pixels / max_pixels model"
                    " arguments"
                )
        tokenizer = getattr(processor, "tokenizer", None)
        if tokenizer is None:
            raise ModelError(f"{self.name}: the processor has no tokenizer; re-save the checkpoint")
        tokenizer.padding_side = "left"
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        return processor

    def _from_pretrained_processor(self, kwargs: dict[str, Any]):
        from transformers import AutoProcessor

        try:
            return AutoProcessor.from_pretrained(
                self.path,
                trust_remote_code=self.options.trust_remote_code,
                local_files_only=True,
                **kwargs,
            )
        except (OSError, ValueError, KeyError, TypeError, ImportError) as e:
            raise ModelError(self._load_error("processor", e)) from None

    def _load_model(self):
        from transformers import AutoModelForImageTextToText

        device_map = _device_map(self.options)
        placement = {"device_map": device_map} if device_map else {}
        try:
            model = AutoModelForImageTextToText.from_pretrained(
                self.path,
                dtype=self.dtype,
                trust_remote_code=self.options.trust_remote_code,
                local_files_only=True,
                **placement,
            )
        except (OSError, ValueError, KeyError, TypeError, ImportError) as e:
            raise ModelError(self._load_error("model", e)) from None
        if device_map:  # accelerate placed the layers; inputs go where the first one is
            self.device = str(model.device)
        else:
            model.to(self.device)
        model.eval()
        return model

    def _load_error(self, what: str, error: BaseException) -> str:
        text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        if "trust_remote_code" in str(error):
            return (
                f"{self.name}: the {what} needs custom code from the checkpoint; if you trust"
                f" it, pass {REMOTE_CODE_HINT} ({text})"
            )
        return f"{self.name}: cannot load the {what} from {self.path}: {text}"

    def _prompt_format(self) -> str | None:
        fmt = self.options.extra.get("prompt_format")
        if fmt is not None:
            fmt = str(fmt)
            if "{prompt}" not in fmt:
                raise ConfigError(
                    f"{self.name}: prompt_format must contain {{prompt}}, got {fmt!r}"
                )
            return fmt
        if self.model_type in PROMPT_FORMATS:
            return PROMPT_FORMATS[self.model_type]
        if self._chat_template() is None:
            raise ModelError(
                f"{self.name}: the processor has no chat template; add chat_template.jinja to"
                " the checkpoint or pass --fgbmk-model-arg prompt_format='... {prompt} ...'"
            )
        return None

    def _chat_template(self) -> str | None:
        """The processor's chat template, else the tokenizer's: processors whose constructor
        takes no ``chat_template`` (BLIP, Pix2Struct …) save it in ``tokenizer_config.json``,
        and it is loaded onto the tokenizer only. None when neither has one."""
        template = getattr(self.processor, "chat_template", None)
        if template is None:
            template = getattr(self.processor.tokenizer, "chat_template", None)
        return template if isinstance(template, (str, dict)) and template else None

    # -- ModelAdapter ----------------------------------------------------------------

    @property
    def fingerprint(self) -> str:
        return self._fingerprint

    @property
    def preprocessing(self) -> Preprocessing:
        ip = self.processor.image_processor
        size = _image_side(ip, self.model_type)
        mean = tuple(float(v) for v in (getattr(ip, "image_mean", None) or (0.5, 0.5, 0.5)))
        std = tuple(float(v) for v in (getattr(ip, "image_std", None) or (0.5, 0.5, 0.5)))
        crop = "center" if getattr(ip, "do_center_crop", False) else "none"
        return Preprocessing(
            size=size, mean=mean, std=std, crop=crop, extra={"family": self.model_type}
        )

    def prompt_text(self, prompt: str, system_prompt: str | None) -> str:
        """The full text given to the processor for one question (image placeholder included)."""
        if self.prompt_format is not None:
            text = self.prompt_format.replace("{prompt}", prompt)
            return f"{system_prompt} {text}" if system_prompt else text
        messages: list[dict[str, Any]] = []
        if system_prompt:
            messages.append(
                {"role": "system", "content": [{"type": "text", "text": system_prompt}]}
            )
        messages.append(
            {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}
        )
        own = getattr(self.processor, "chat_template", None) is not None
        return self.processor.apply_chat_template(
            messages,
            chat_template=None if own else self._chat_template(),
            add_generation_prompt=True,
            tokenize=False,
        )

    def answer(self, requests: Sequence[AnswerRequest], settings: GenerationSettings) -> list[str]:
        system = settings.system_prompt or self.options.system_prompt
        texts = [self.prompt_text(r.prompt, system) for r in requests]
        images = [to_rgb(r.image) for r in requests]
        lengths = self._fixed_lengths(requests)
        answers: list[str] = []
        start = 0
        while start < len(requests):
            stop = min(start + self.batch_size, len(requests))
            forced = {"lengths": lengths[start:stop]} if lengths is not None else {}
            try:
                answers.extend(
                    self._generate(images[start:stop], texts[start:stop], settings, **forced)
                )
            except Exception as e:
                if not _is_oom(e) or self.batch_size == 1:
                    raise
                self.batch_size = max(1, self.batch_size // 2)
                self._empty_cache()
                continue
            start = stop
        return answers

    def _fixed_lengths(self, requests: Sequence[AnswerRequest]) -> list[int] | None:
        """Each request's forced answer length (``fixed_new_tokens``), None when not forced.
        A request without a question record gets the largest count."""
        counts = self.fixed_new_tokens
        if counts is None:
            return None
        longest = max(counts.values())
        return [
            counts.get(r.question.qtype, longest) if r.question is not None else longest
            for r in requests
        ]

    def _inputs(self, images: list[Image.Image], texts: list[str]):
        batch_images: list[Any] = (
            images if self.model_type in FLAT_IMAGES else [[img] for img in images]
        )
        extra: dict[str, Any] = {}
        if "mm_token_type_ids" in (getattr(self.processor, "model_input_names", None) or ()):
            # multimodal RoPE (Qwen3-VL-style) needs to know which tokens are the image's
            extra["return_mm_token_type_ids"] = True
        inputs = self.processor(
            images=batch_images, text=texts, return_tensors="pt", padding=True, **extra
        )
        return inputs.to(self.device, dtype=self.dtype)

    def _generate(
        self,
        images: list[Image.Image],
        texts: list[str],
        settings: GenerationSettings,
        lengths: list[int] | None = None,
    ) -> list[str]:
        """One ``generate`` call; ``lengths`` (forced answer lengths, one per request) makes
        it run exactly ``max(lengths)`` steps and cuts each answer to its own length."""
        import torch

        inputs = self._inputs(images, texts)
        sampling: dict[str, Any] = {"do_sample": False}
        if settings.temperature > 0:
            sampling = {"do_sample": True, "temperature": settings.temperature}
        steps = settings.max_new_tokens
        if lengths is not None:
            steps = max(lengths)
            sampling["min_new_tokens"] = steps
        tok = self.processor.tokenizer
        with torch.inference_mode():
            out = self.model.generate(
                **inputs,
                max_new_tokens=steps,
                pad_token_id=tok.pad_token_id,
                top_p=None,
                top_k=None,
                **sampling,
            )
        prompt_ids = inputs["input_ids"]
        n = prompt_ids.shape[1]
        if out.shape[1] >= n and torch.equal(out[:, :n], prompt_ids):
            out = out[:, n:]
        if lengths is not None:
            rows = [row[:k] for row, k in zip(out, lengths, strict=True)]
            return [t.strip() for t in tok.batch_decode(rows, skip_special_tokens=True)]
        return [t.strip() for t in tok.batch_decode(out, skip_special_tokens=True)]

    def encode(self, images: Sequence[Image.Image]) -> dict[str, torch.Tensor]:
        if not self.can_encode:
            return super().encode(images)
        import torch

        parts: list[dict[str, torch.Tensor]] = []
        rgb = [to_rgb(img) for img in images]
        for start in range(0, len(rgb), self.batch_size):
            parts.append(self._encode_batch(rgb[start : start + self.batch_size]))
        return {k: torch.cat([p[k] for p in parts]) for k in parts[0]} if parts else {}

    def _encode_batch(self, images: list[Image.Image]) -> dict[str, torch.Tensor]:
        import torch

        ip = self.processor.image_processor
        extra = {"crop_to_patches": False} if self.model_type == "internvl" else {}
        pixels = ip(images=images, return_tensors="pt", **extra)["pixel_values"]
        pixels = pixels.to(self.device, dtype=self.dtype)
        config = self.model.config
        layer = getattr(config, "vision_feature_layer", -1)  # BLIP-2: the tower's output
        with torch.inference_mode():
            out = self.model.get_image_features(
                pixel_values=pixels, output_hidden_states=True, return_dict=True
            )
        hidden = out.hidden_states
        if isinstance(layer, int):
            selected = out.last_hidden_state if layer == -1 else hidden[layer]
        else:
            selected = torch.cat([hidden[i] for i in layer], dim=-1)
        depth = min(4, len(hidden) - 1)
        aligned = out.pooler_output
        aligned = torch.stack([a.mean(dim=0) for a in aligned])
        return {
            "cls": selected[:, 0].float().cpu(),
            "patch_mean": selected[:, 1:].mean(dim=1).float().cpu(),
            "blocks": torch.stack([h[:, 0] for h in hidden[-depth:]], dim=1).float().cpu(),
            "aligned": aligned.float().cpu(),
        }

    def close(self) -> None:
        if getattr(self, "model", None) is not None:
            del self.model
            self.model = None
        gc.collect()
        self._empty_cache()

    def _empty_cache(self) -> None:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def _available_device(options: ModelOptions) -> str:
    """The resolved device; a :class:`ConfigError` listing the devices present when this
    machine lacks it (:meth:`ModelOptions.check_device`)."""
    return options.resolved_device()


def _device_map(options: ModelOptions) -> str | None:
    """The ``device_map`` model arg, checked: one of :data:`DEVICE_MAPS`, and accelerate
    (which places the layers over the GPUs) installed. None when not given."""
    import importlib.util

    raw = options.extra.get("device_map")
    if raw is None:
        return None
    value = str(raw).strip()
    if value not in DEVICE_MAPS:
        raise ConfigError(
            f"model arg device_map={raw!r} is not valid; use one of {', '.join(DEVICE_MAPS)} "
            "(or leave it out and pick one device with device=)"
        )
    if importlib.util.find_spec("accelerate") is None:
        raise ConfigError(
            f"model arg device_map={value} needs the accelerate package, which places the "
            "model's layers over the GPUs: pip install 'pytest-fgbmk[multi-gpu]' (or accelerate)"
        )
    return value


def _get(size: Any, key: str) -> Any:
    """``size[key]`` of a dict or a transformers ``SizeDict`` (None when absent)."""
    if size is None:
        return None
    if isinstance(size, dict):
        return size.get(key)
    return getattr(size, key, None)


def _pixel_budget(ip: Any) -> bool:
    """True for dynamic-resolution image processors (Qwen2-VL's and those built on it:
    Qwen2.5/3-VL, Qwen3.5, GLM-4V, PaddleOCR-VL …) whose ``size`` holds a pixel-count range
    (shortest_edge = min pixels, longest_edge = max pixels) and which merge patches."""
    low, high = _get(ip.size, "shortest_edge"), _get(ip.size, "longest_edge")
    patch, merge = getattr(ip, "patch_size", None), getattr(ip, "merge_size", None)
    if not (low and high and isinstance(patch, int) and isinstance(merge, int)):
        return False
    return int(low) >= (patch * merge) ** 2 and int(high) >= int(low)


def _encoder_decoder(model: Any) -> bool:
    config = getattr(model, "config", None)
    if getattr(config, "is_encoder_decoder", False):
        return True
    text = getattr(config, "text_config", None)
    return bool(getattr(text, "is_encoder_decoder", False))


def _image_side(ip: Any, model_type: str) -> int:
    """The side, in pixels, the image processor resizes to: √max_pixels for a pixel budget
    (its ``longest_edge`` is a pixel count), else the crop / resize side."""
    if _pixel_budget(ip):
        return int(int(_get(ip.size, "longest_edge")) ** 0.5)
    for attr in ("crop_size", "size"):
        value = getattr(ip, attr, None)
        if isinstance(value, int):
            return value
        for key in ("height", "shortest_edge", "longest_edge", "max_height"):
            if _get(value, key):
                return int(_get(value, key))
    return Preprocessing().size


def _int_option(name: str, raw: Any) -> int:
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"model argument {name} must be an integer, got {raw!r}") from None
    if value < 1:
        raise ConfigError(f"model argument {name} must be positive, got {value}")
    return value


def _bool_option(name: str, raw: Any) -> bool:
    text = str(raw).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"model argument {name} must be true or false, got {raw!r}")
