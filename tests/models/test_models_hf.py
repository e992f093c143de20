"""The ``hf:`` adapter on tiny checkpoints of every family, built locally from configs."""

from __future__ import annotations

import json
import os
import shutil
import sys
import types
from pathlib import Path

import pytest
import torch
from PIL import Image

from pytest_fgbmk.errors import ConfigError, ModelError
from pytest_fgbmk.models import hf, tiny
from pytest_fgbmk.models.base import AnswerRequest, GenerationSettings
from pytest_fgbmk.models.options import ModelOptions

SETTINGS = GenerationSettings(max_new_tokens=6)
CPU = {"device": "cpu", "dtype": "fp32"}


def _families() -> list:
    out = []
    for fam in tiny.FAMILIES:
        marks = []
        if fam == "smolvlm":
            try:
                import num2words  # noqa: F401
            except ImportError:
                marks.append(pytest.mark.skip(reason="smolvlm's processor needs num2words"))
        out.append(pytest.param(fam, marks=marks))
    return out


def _requests(n: int = 5) -> list[AnswerRequest]:
    """Images of different sizes and prompts of different lengths (so padding matters)."""
    out = []
    for i in range(n):
        img = Image.new(
            "RGB", (40 + 23 * i, 30 + 11 * i), (37 * i % 256, 90 + 20 * i, 200 - 30 * i)
        )
        img.putpixel((i, i), (255, 255, 255))
        out.append(AnswerRequest(img, "Is this a photo of a bird? " * (1 + i % 3)))
    return out


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("ckpt")


def _checkpoint(root: Path, family: str) -> Path:
    out = root / family
    if not (out / "config.json").is_file():
        tiny.build_tiny(family, out)
    return out


@pytest.fixture(scope="module")
def llava(checkpoints):
    return hf.load_hf(str(_checkpoint(checkpoints, "llava")), ModelOptions(**CPU, batch_size=4))


@pytest.mark.parametrize("family", _families())
def test_batched_answers_equal_one_at_a_time(family, checkpoints):
    path = _checkpoint(checkpoints, family)
    model = hf.load_hf(str(path), ModelOptions(**CPU, batch_size=4))
    try:
        assert isinstance(model, hf.HfVisionLanguageModel) and model.can_answer
        reqs = _requests(5)  # batches of 4 and 1: padding inside a batch and across
        batched = model.answer(reqs, SETTINGS)
        single = [model.answer([r], SETTINGS)[0] for r in reqs]
        assert batched == single
        assert len(batched) == 5 and all(isinstance(a, str) for a in batched)
        assert any(batched), "a random model should produce some text"
        assert all(a == a.strip() for a in batched)
    finally:
        model.close()


def test_only_new_tokens_are_decoded(llava, monkeypatch):
    """What is decoded is the generated continuation only, at most max_new_tokens long."""
    tok = llava.processor.tokenizer
    real = tok.batch_decode
    decoded = []

    def spy(ids, **kwargs):
        decoded.append(ids)
        return real(ids, **kwargs)

    monkeypatch.setattr(tok, "batch_decode", spy)
    llava.answer(_requests(3), GenerationSettings(max_new_tokens=3))
    (ids,) = decoded
    assert ids.shape[0] == 3 and ids.shape[1] <= 3
    assert llava.processor.image_token_id not in ids.tolist()


def test_generation_is_left_padded(llava):
    texts = [llava.prompt_text(r.prompt, None) for r in _requests(2)]
    inputs = llava._inputs([r.image for r in _requests(2)], texts)
    mask = inputs["attention_mask"]
    assert mask[:, -1].tolist() == [1, 1]  # every row ends on a real token
    assert mask[0].tolist()[0] == 0 and mask[1].tolist()[0] == 1


def test_chat_template_and_system_prompt(llava):
    assert llava.prompt_text("Is it?", None) == "USER: <image>\nIs it? ASSISTANT:"
    assert llava.prompt_text("Is it?", "Be brief.") == (
        "Be brief.\nUSER: <image>\nIs it? ASSISTANT:"
    )


def test_system_prompt_from_settings_changes_the_answers(llava):
    reqs = _requests(2)
    plain = llava.answer(reqs, SETTINGS)
    with_system = llava.answer(reqs, GenerationSettings(max_new_tokens=6, system_prompt="A B C"))
    assert plain != with_system


def test_blip2_uses_its_own_prompt_format(checkpoints):
    model = hf.load_hf(str(_checkpoint(checkpoints, "blip2")), ModelOptions(**CPU))
    assert model.prompt_text("Is it red?", None) == "Question: Is it red? Answer:"
    assert model.prompt_text("Is it red?", "Be brief.") == "Be brief. Question: Is it red? Answer:"


def test_prompt_format_option(checkpoints):
    path = str(_checkpoint(checkpoints, "llava"))
    opts = ModelOptions(**CPU, extra={"prompt_format": "<image>\n{prompt}\nAnswer:"})
    model = hf.load_hf(path, opts)
    assert model.prompt_text("Q?", None) == "<image>\nQ?\nAnswer:"
    assert len(model.answer(_requests(2), SETTINGS)) == 2
    with pytest.raises(ConfigError, match=r"prompt_format must contain \{prompt\}"):
        hf.load_hf(path, ModelOptions(**CPU, extra={"prompt_format": "no placeholder"}))


def test_missing_chat_template_names_the_fix(checkpoints, tmp_path):
    copy = tmp_path / "no-template"
    shutil.copytree(_checkpoint(checkpoints, "llava"), copy)
    (copy / "chat_template.jinja").unlink()
    with pytest.raises(ModelError, match="no chat template.*prompt_format"):
        hf.load_hf(str(copy), ModelOptions(**CPU))


def test_chat_template_kept_by_the_tokenizer_is_used(checkpoints, tmp_path):
    """A processor whose constructor takes no chat template (BLIP, Pix2Struct …) saves it in
    tokenizer_config.json only: the tokenizer's template is the prompt's, not an error."""
    copy = tmp_path / "template-on-tokenizer"
    shutil.copytree(_checkpoint(checkpoints, "llava"), copy)
    template = (copy / "chat_template.jinja").read_text(encoding="utf-8")
    (copy / "chat_template.jinja").unlink()
    config = json.loads((copy / "tokenizer_config.json").read_text(encoding="utf-8"))
    (copy / "tokenizer_config.json").write_text(
        json.dumps({**config, "chat_template": template}), encoding="utf-8"
    )
    model = hf.load_hf(str(copy), ModelOptions(**CPU))
    assert model.processor.chat_template is None
    assert model.prompt_text("Is it?", None) == "USER: <image>\nIs it? ASSISTANT:"
    assert len(model.answer(_requests(2), SETTINGS)) == 2


@pytest.mark.parametrize("family", ["llava", "internvl", "blip2"])
def test_encode_views_and_aligned_is_the_projector_output(family, checkpoints):
    model = hf.load_hf(str(_checkpoint(checkpoints, family)), ModelOptions(**CPU, batch_size=2))
    images = [r.image for r in _requests(3)]
    views = model.encode(images)
    cfg = model.model.config
    vis, txt = cfg.vision_config.hidden_size, cfg.text_config.hidden_size
    depth = cfg.vision_config.num_hidden_layers
    assert {k: tuple(v.shape) for k, v in views.items()} == {
        "cls": (3, vis),
        "patch_mean": (3, vis),
        "blocks": (3, depth, vis),  # the tiny towers have 2 or 3 layers
        "aligned": (3, txt),
    }
    # Reference: run the tower and projector by hand on the first image.
    ip = model.processor.image_processor
    extra = {"crop_to_patches": False} if family == "internvl" else {}
    pixels = ip(images=images[:1], return_tensors="pt", **extra)["pixel_values"]
    inner = model.model if family == "blip2" else model.model.model
    with torch.no_grad():
        if family == "blip2":
            tower = inner.vision_model(pixel_values=pixels, output_hidden_states=True)
            chosen = tower.last_hidden_state
            queries = inner.qformer(
                query_embeds=inner.query_tokens, encoder_hidden_states=chosen
            ).last_hidden_state
            projected = inner.language_projection(queries)
        else:
            tower = inner.vision_tower(pixel_values=pixels, output_hidden_states=True)
        if family == "llava":
            chosen = tower.hidden_states[-2]
            projected = inner.multi_modal_projector(chosen[:, 1:])
        elif family == "internvl":
            chosen = tower.last_hidden_state
            grid = chosen[:, 1:].reshape(1, 4, 4, -1)
            shuffled = inner.pixel_shuffle(grid, scale_factor=cfg.downsample_ratio)
            projected = inner.multi_modal_projector(shuffled.reshape(1, -1, shuffled.shape[-1]))
    torch.testing.assert_close(views["cls"][0], chosen[0, 0])
    torch.testing.assert_close(views["patch_mean"][0], chosen[0, 1:].mean(0))
    torch.testing.assert_close(views["aligned"][0], projected[0].mean(0))
    if family != "blip2":  # BLIP-2's last block output is before its post-layernorm
        torch.testing.assert_close(views["blocks"][0, -1], tower.hidden_states[-1][0, 0])
    # Batched encoding equals one image at a time.
    alone = model.encode(images[2:])
    for name in views:
        torch.testing.assert_close(views[name][2:], alone[name], rtol=1e-4, atol=1e-5)


def test_families_without_encode_say_so(checkpoints):
    model = hf.load_hf(str(_checkpoint(checkpoints, "qwen2_5_vl")), ModelOptions(**CPU))
    assert not model.can_encode
    with pytest.raises(TypeError, match="cannot encode"):
        model.encode([Image.new("RGB", (8, 8))])


@pytest.mark.parametrize("family", ["qwen2_vl", "qwen2_5_vl"])
def test_qwen_image_size_sets_the_pixel_budget(family, checkpoints):
    path = str(_checkpoint(checkpoints, family))
    big = Image.new("RGB", (224, 168), (10, 20, 30))

    def image_tokens(model) -> int:
        text = model.prompt_text("Q?", None)
        ids = model._inputs([big], [text])["input_ids"][0].tolist()
        return ids.count(model.processor.image_token_id)

    default = hf.load_hf(path, ModelOptions(**CPU))
    small = hf.load_hf(path, ModelOptions(**CPU, image_size=56))
    assert small.preprocessing.size == 56 and default.preprocessing.size == 112
    assert image_tokens(default) == 12  # 112x84 px: 8x6 patches of 14 px, merged 2x2
    assert image_tokens(small) == 2  # at most 56*56 px: 4x2 patches, merged 2x2
    explicit = hf.load_hf(path, ModelOptions(**CPU, extra={"max_pixels": 56 * 56}))
    assert image_tokens(explicit) == 2
    assert small.fingerprint != default.fingerprint
    with pytest.raises(ConfigError, match="min_pixels .* must not exceed max_pixels"):
        hf.load_hf(path, ModelOptions(**CPU, extra={"min_pixels": 9000, "max_pixels": 4000}))


def test_fixed_size_families_reject_image_size(checkpoints):
    with pytest.raises(ConfigError, match="image_size cannot be changed for 'llava'"):
        hf.load_hf(str(_checkpoint(checkpoints, "llava")), ModelOptions(**CPU, image_size=64))
    with pytest.raises(ConfigError, match="max_patches"):
        hf.load_hf(str(_checkpoint(checkpoints, "internvl")), ModelOptions(**CPU, image_size=64))


def test_preprocessing_reports_the_processor(llava):
    pre = llava.preprocessing
    assert pre.size == 32 and pre.crop == "center"
    assert pre.mean == pytest.approx((0.48145466, 0.4578275, 0.40821073))
    assert pre.extra == {"family": "llava"}


def test_fingerprint_is_cheap_and_tracks_weights_and_options(checkpoints, tmp_path):
    copy = tmp_path / "ck"
    shutil.copytree(_checkpoint(checkpoints, "llava"), copy)
    base = hf.checkpoint_fingerprint(copy, ModelOptions(**CPU))
    assert hf.checkpoint_fingerprint(copy, ModelOptions(**CPU)) == base
    assert hf.checkpoint_fingerprint(copy, ModelOptions(device="cpu", dtype="bf16")) != base
    assert hf.checkpoint_fingerprint(copy, ModelOptions(**CPU, system_prompt="x")) != base
    weights = copy / "model.safetensors"
    st = weights.stat()
    os.utime(weights, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    touched = hf.checkpoint_fingerprint(copy, ModelOptions(**CPU))
    assert touched != base
    template = copy / "chat_template.jinja"
    template.write_text(template.read_text() + " ")
    assert hf.checkpoint_fingerprint(copy, ModelOptions(**CPU)) != touched


def test_missing_folder_is_a_clear_error():
    with pytest.raises(ModelError, match="no such folder"):
        hf.load_hf("/nonexistent/fgbmk/checkpoint", ModelOptions(**CPU))


def test_uncached_repo_id_is_not_downloaded(monkeypatch, tmp_path):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(ModelError, match=r"not on disk.*hf download fgbmk/absent"):
        hf.load_hf("fgbmk/absent", ModelOptions(**CPU))
    assert list(tmp_path.iterdir()) == []


def test_repo_id_in_the_hf_cache_loads_offline(monkeypatch, tmp_path, checkpoints):
    import huggingface_hub.constants

    repo = tmp_path / "models--fgbmk--tiny-llava"
    commit = "0" * 40
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    shutil.copytree(_checkpoint(checkpoints, "llava"), repo / "snapshots" / commit)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    model = hf.load_hf("fgbmk/tiny-llava", ModelOptions(**CPU))
    assert model.name == "hf:fgbmk/tiny-llava"
    assert len(model.answer(_requests(1), SETTINGS)) == 1


def test_folder_without_config_and_file_targets(tmp_path):
    with pytest.raises(ModelError, match="no config.json"):
        hf.load_hf(str(tmp_path), ModelOptions(**CPU))
    file = tmp_path / "weights.bin"
    file.write_bytes(b"x")
    with pytest.raises(ModelError, match="is a file"):
        hf.load_hf(str(file), ModelOptions(**CPU))
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ModelError, match=r"config.json: cannot be read as JSON"):
        hf.load_hf(str(tmp_path), ModelOptions(**CPU))


def test_remote_code_needs_the_explicit_option(tmp_path):
    (tmp_path / "config.json").write_text(
        json.dumps(
            {
                "model_type": "my_vlm",
                "auto_map": {
                    "AutoConfig": "configuration_my_vlm.MyConfig",
                    "AutoModelForImageTextToText": "modeling_my_vlm.MyModel",
                },
            }
        )
    )
    with pytest.raises(ModelError, match="custom code.*--fgbmk-model-arg trust_remote_code=true"):
        hf.load_hf(str(tmp_path), ModelOptions(**CPU))


@pytest.mark.parametrize("trust", [False, True])
def test_remote_code_without_an_image_text_to_text_auto_map_is_refused_at_once(tmp_path, trust):
    """It used to ask for trust_remote_code=true first, and refuse once given it."""
    (tmp_path / "config.json").write_text(
        json.dumps(
            {
                "model_type": "internvl_chat",
                "auto_map": {
                    "AutoConfig": "configuration_internvl_chat.InternVLChatConfig",
                    "AutoModel": "modeling_internvl_chat.InternVLChatModel",
                },
            }
        )
    )
    with pytest.raises(ModelError) as info:
        hf.load_hf(str(tmp_path), ModelOptions(**CPU, trust_remote_code=trust))
    assert str(info.value) == (
        f"hf:{tmp_path}: model_type 'internvl_chat' is custom code whose config.json auto_map "
        "(AutoConfig, AutoModel) has no AutoModelForImageTextToText, so it cannot answer here "
        "even with trust_remote_code; use the transformers-native version of the checkpoint "
        "(e.g. the '-hf' repo)"
    )


def test_text_only_models_are_refused(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(ModelError, match="'bert' is neither an image-text-to-text model"):
        hf.load_hf(str(tmp_path), ModelOptions(**CPU))


@pytest.mark.parametrize("model_type", ["dinov2", "clip", "siglip_vision_model"])
def test_encoders_are_dispatched_to_hf_encoder(model_type, tmp_path, monkeypatch):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": model_type}))
    calls = []
    fake = types.ModuleType("pytest_fgbmk.models.hf_encoder")
    fake.load_hf_encoder = lambda target, options: calls.append((target, options)) or "encoder"
    monkeypatch.setitem(sys.modules, "pytest_fgbmk.models.hf_encoder", fake)
    opts = ModelOptions(**CPU)
    assert hf.load_hf(str(tmp_path), opts) == "encoder"
    assert calls == [(str(tmp_path), opts)]


def test_out_of_memory_halves_the_batch_and_remembers(checkpoints, monkeypatch):
    model = hf.load_hf(str(_checkpoint(checkpoints, "llava")), ModelOptions(**CPU, batch_size=8))
    reqs = _requests(5)
    expected = model.answer(reqs, SETTINGS)
    real = model._generate
    sizes = []

    def tight(images, texts, settings):
        sizes.append(len(images))
        if len(images) > 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")
        return real(images, texts, settings)

    monkeypatch.setattr(model, "_generate", tight)
    assert model.answer(reqs, SETTINGS) == expected
    assert sizes == [5, 4, 2, 2, 1] and model.batch_size == 2
    sizes.clear()
    model.answer(reqs, SETTINGS)
    assert sizes == [2, 2, 1]


def test_other_errors_are_not_retried(llava, monkeypatch):
    def broken(images, texts, settings):
        raise RuntimeError("shape mismatch")

    monkeypatch.setattr(llava, "_generate", broken)
    with pytest.raises(RuntimeError, match="shape mismatch"):
        llava.answer(_requests(2), SETTINGS)


def test_absent_cuda_device_is_a_clear_error(checkpoints, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match=r"device=cuda:1: this machine has no CUDA device"):
        hf.load_hf(str(_checkpoint(checkpoints, "llava")), ModelOptions(device="cuda:1"))


def test_close_frees_the_model(checkpoints):
    model = hf.load_hf(str(_checkpoint(checkpoints, "llava")), ModelOptions(**CPU))
    model.close()
    assert model.model is None
    model.close()  # idempotent


# -- issue 16: families beyond the built-in tiny ones (built by tests.models.families) ----


@pytest.fixture(scope="module")
def family_checkpoints(tmp_path_factory):
    from tests.models.families import build_family

    root = tmp_path_factory.mktemp("families")
    built: dict[str, Path] = {}

    def get(model_type: str) -> Path:
        if model_type not in built:
            torch.manual_seed(0)
            built[model_type] = build_family(model_type, root / model_type)
        return built[model_type]

    return get


@pytest.mark.slow
@pytest.mark.parametrize("model_type", ["gemma3", "lfm2_vl", "mllama"])
def test_processors_that_count_images_per_sample_get_nested_lists(model_type, family_checkpoints):
    """gemma3, lfm2_vl and mllama failed on every batch of more than one request: their
    processors count images per sample and refuse a flat list."""
    model = hf.load_hf(str(family_checkpoints(model_type)), ModelOptions(**CPU, batch_size=4))
    requests = _requests(3)
    texts = [model.prompt_text(r.prompt, None) for r in requests]
    images = [r.image for r in requests]
    with pytest.raises(ValueError, match="(?i)number of|images"):
        model.processor(images=images, text=texts, return_tensors="pt", padding=True)
    batched = model.answer(requests, SETTINGS)
    assert batched == [model.answer([r], SETTINGS)[0] for r in requests]


def test_padding_side_follows_the_architecture():
    decoder = types.SimpleNamespace(config=types.SimpleNamespace(is_encoder_decoder=False))
    encdec = types.SimpleNamespace(config=types.SimpleNamespace(is_encoder_decoder=True))
    nested = types.SimpleNamespace(
        config=types.SimpleNamespace(
            is_encoder_decoder=False,
            text_config=types.SimpleNamespace(is_encoder_decoder=True),
        )
    )
    assert not hf._encoder_decoder(decoder)
    assert hf._encoder_decoder(encdec) and hf._encoder_decoder(nested)


def test_pixel_budget_is_recognised_by_the_image_processor():
    from transformers import CLIPImageProcessor, Qwen2VLImageProcessor

    qwen = Qwen2VLImageProcessor(min_pixels=56 * 56, max_pixels=112 * 112)
    assert hf._pixel_budget(qwen) and hf._image_side(qwen, "qwen3_vl") == 112
    clip = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    assert not hf._pixel_budget(clip) and hf._image_side(clip, "llava") == 32


@pytest.mark.slow
def test_qwen3_vl_image_size_and_max_pixels_bound_the_pixels(family_checkpoints):
    """qwen3_vl refused image_size as 'a fixed input size', accepted max_pixels and ignored
    it, and reported a pixel count as its preprocessing size."""
    path = str(family_checkpoints("qwen3_vl"))
    big = Image.new("RGB", (224, 168), (10, 20, 30))

    def image_tokens(model) -> int:
        ids = model._inputs([big], [model.prompt_text("Q?", None)])["input_ids"][0].tolist()
        return ids.count(model.processor.image_token_id)

    default = hf.load_hf(path, ModelOptions(**CPU))
    small = hf.load_hf(path, ModelOptions(**CPU, image_size=64))
    budget = hf.load_hf(path, ModelOptions(**CPU, extra={"max_pixels": 4096}))
    side = int(default.processor.image_processor.size.longest_edge**0.5)
    assert default.preprocessing.size == side < 10_000  # a side, not a pixel count
    assert small.preprocessing.size == 64 and budget.preprocessing.size == 64
    # 224x168 px at most 64x64 px: 64x32 -> 4x2 patches of 16 px, merged 2x2 = 2 tokens
    assert image_tokens(small) == image_tokens(budget) == 2 < image_tokens(default)
    assert small.fingerprint != default.fingerprint


@pytest.mark.parametrize(
    ("family", "arg", "match"),
    [
        ("llava", {"max_pixels": 4096}, "max_pixels is an option of dynamic-resolution"),
        ("llava", {"min_pixels": 64}, "min_pixels is an option of dynamic-resolution"),
        ("llava", {"max_patches": 2}, "max_patches is an InternVL option"),
        ("qwen2_vl", {"do_image_splitting": "false"}, "do_image_splitting is an Idefics"),
    ],
)
def test_family_options_the_family_has_no_use_for_are_refused(family, arg, match, checkpoints):
    with pytest.raises(ConfigError, match=match):
        hf.load_hf(str(_checkpoint(checkpoints, family)), ModelOptions(**CPU, extra=arg))
