"""What every vision-encoder adapter shares: image → tensor preprocessing, batching, views.

An encoder adapter subclasses :class:`EncoderAdapter` and implements :meth:`_views`, which
maps a batch of preprocessed pixels to the feature views of :data:`~.base.VIEWS`:

* ``cls`` (B, D): the image-level embedding the family trains its heads on;
* ``patch_mean`` (B, D): the mean of the final (normalised) patch tokens / spatial positions;
* ``blocks`` (B, n, D): one embedding per each of the last ``n`` blocks (stages for CNNs).

What each view means per family is documented in the family's module.
:meth:`EncoderAdapter.encode` converts PIL images itself (resize, centre crop, normalise),
preprocesses the next batch in a background thread while the model runs the current one,
halves the batch on CUDA out-of-memory (and remembers the smaller size), and returns
float32 CPU tensors.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import threading
from abc import abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from pytest_fgbmk.data.images import to_rgb
from pytest_fgbmk.errors import ConfigError
from pytest_fgbmk.models.base import ModelAdapter, Preprocessing
from pytest_fgbmk.models.options import ModelOptions
from pytest_fgbmk.prefetch import prefetched

DEFAULT_BATCH_SIZE = 64
DEFAULT_BLOCKS = 4
#: Model args every encoder adapter reads from ``ModelOptions.extra``.
ENCODER_ARGS = ("blocks",)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_RESAMPLE = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "box": Image.Resampling.BOX,
    "hamming": Image.Resampling.HAMMING,
}
#: PIL's integer resample codes (what HF preprocessor configs store) → names.
RESAMPLE_NAMES = {int(v): k for k, v in _RESAMPLE.items()}


@dataclass(frozen=True)
class ImageTransform:
    """Resize, centre-crop and normalise a PIL image into a (3, size, size) float tensor.

    ``crop="center"``: the shorter edge is resized to ``resize`` (aspect kept), then a
    ``size``×``size`` centre crop is taken (CLIP's, DINOv2's and timm's eval transforms).
    ``crop="squash"``: the image is resized to ``resize``×``resize`` (aspect not kept), then
    centre-cropped to ``size`` (SigLIP: ``resize == size``, no crop at all).
    ``offset`` is how an odd margin splits: ``"round"`` (torchvision, timm) or ``"floor"``
    (transformers' processors).
    """

    size: int
    resize: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str = "bicubic"
    crop: str = "center"
    offset: str = "round"

    def __post_init__(self) -> None:
        if self.interpolation not in _RESAMPLE:
            raise ConfigError(
                f"interpolation {self.interpolation!r} is not known; use one of {', '.join(_RESAMPLE)}"
            )
        if self.crop not in ("center", "squash"):
            raise ConfigError(f"crop {self.crop!r} is not known; use 'center' or 'squash'")
        if self.offset not in ("round", "floor"):
            raise ConfigError(f"crop offset {self.offset!r} is not known; use 'round' or 'floor'")
        if self.resize < self.size:
            raise ConfigError(f"resize {self.resize} is smaller than the crop size {self.size}")

    def resized(self, img: Image.Image) -> Image.Image:
        """The image after resizing and cropping, before normalisation."""
        img = to_rgb(img)
        resample = _RESAMPLE[self.interpolation]
        w, h = img.size
        if self.crop == "squash":
            new_w = new_h = self.resize
        elif w <= h:
            new_w, new_h = self.resize, int(self.resize * h / w)
        else:
            new_w, new_h = int(self.resize * w / h), self.resize
        if (new_w, new_h) != (w, h):
            img = img.resize((new_w, new_h), resample=resample)
        split = round if self.offset == "round" else math.floor
        left = int(split((new_w - self.size) / 2.0))
        top = int(split((new_h - self.size) / 2.0))
        return img.crop((left, top, left + self.size, top + self.size))

    def __call__(self, img: Image.Image) -> torch.Tensor:
        """(3, size, size) float32, normalised. Plain numpy (it releases the GIL and starts no
        thread pool), so many images are transformed in parallel on threads."""
        arr = np.asarray(self.resized(img), dtype=np.float32) / np.float32(255.0)
        mean = np.asarray(self.mean, dtype=np.float32)
        std = np.asarray(self.std, dtype=np.float32)
        arr -= mean
        arr /= std
        return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))

    def batch(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """A (B, 3, size, size) batch."""
        return torch.stack([self(img) for img in images])

    def preprocessing(self) -> Preprocessing:
        return Preprocessing(
            size=self.size,
            mean=tuple(self.mean),
            std=tuple(self.std),
            crop=self.crop,
            extra={
                "resize": self.resize,
                "interpolation": self.interpolation,
                "offset": self.offset,
            },
        )

    def scaled_to(self, size: int | None) -> ImageTransform:
        """The same transform at another input size (the resize keeps its ratio to the crop)."""
        if size is None or size == self.size:
            return self
        if size < 1:
            raise ConfigError(f"image_size must be at least 1, got {size}")
        resize = max(size, int(round(self.resize * size / self.size)))
        return dataclasses.replace(self, size=size, resize=resize)


#: Content digests already computed in this process, by (real path, size, mtime in ns).
_DIGESTS: dict[tuple[str, int, int], str] = {}
_DIGEST_LOCK = threading.Lock()
_READ_CHUNK = 1 << 22


def file_digest(path: Path | str) -> str:
    """SHA-256 (hex) of a file's bytes, read once per process in 4 MiB chunks.

    What the file holds, not how it was named: a relative or absolute path, a symlink, a
    copy or a reinstall of the same bytes give the same digest. Memoised by the real path,
    size and modification time, so a model loaded twice in a process reads it once (cost:
    one sequential read, about 1 s per GB; the loader reads the same file right after, from
    the page cache). Raises :class:`OSError` when the file cannot be read.
    """
    real = Path(path).resolve()
    st = real.stat()
    key = (str(real), st.st_size, st.st_mtime_ns)
    with _DIGEST_LOCK:
        found = _DIGESTS.get(key)
    if found is not None:
        return found
    h = hashlib.sha256()
    with real.open("rb") as f:
        while chunk := f.read(_READ_CHUNK):
            h.update(chunk)
    digest = h.hexdigest()
    with _DIGEST_LOCK:
        _DIGESTS[key] = digest
    return digest


def files_signature(paths: Iterable[Path]) -> str:
    """A hash of files' contents (:func:`file_digest`), in an order independent of their
    names or folder: the same weights give the same signature however they are reached."""
    digests = sorted(file_digest(p) for p in paths)
    return hashlib.sha256("\n".join(digests).encode()).hexdigest()[:16]


def pad_stack(vectors: Sequence[torch.Tensor]) -> torch.Tensor:
    """Stack (B, d_i) tensors into (B, n, max d_i), zero-padding the narrower ones at the end."""
    width = max(v.shape[-1] for v in vectors)
    padded = [torch.nn.functional.pad(v, (0, width - v.shape[-1])) for v in vectors]
    return torch.stack(padded, dim=1)


class EncoderAdapter(ModelAdapter):
    """Base of the vision-encoder adapters: a frozen torch module behind :meth:`encode`."""

    can_encode = True
    family = "encoder"
    recorded_args = ENCODER_ARGS

    def __init__(
        self,
        module: torch.nn.Module,
        transform: ImageTransform,
        options: ModelOptions,
        *,
        name: str,
        identity: str,
    ) -> None:
        self.options = options
        self.name = name
        self.device = torch.device(options.resolved_device())
        self.dtype = options.torch_dtype()
        self.transform = transform.scaled_to(options.image_size)
        self.batch_size = options.batch_size or DEFAULT_BATCH_SIZE
        self.n_blocks = _positive_int(options.extra.get("blocks", DEFAULT_BLOCKS), "blocks")
        self.module = module.eval().requires_grad_(False).to(self.device, self.dtype)
        self._identity = identity
        self._empty: dict[str, torch.Tensor] | None = None

    @property
    def preprocessing(self) -> Preprocessing:
        return self.transform.preprocessing()

    @property
    def fingerprint(self) -> str:
        """``family:name:hash`` of the weights' signature, the options and the preprocessing."""
        h = hashlib.sha256(
            f"{self._identity}\n{self.options.key()}\n{self.preprocessing.key()}".encode()
        )
        return f"{self.family}:{self.name}:{h.hexdigest()[:16]}"

    def encode(self, images: Sequence[Image.Image]) -> dict[str, torch.Tensor]:
        images = list(images)
        if not images:
            return self._empty_views()
        chunks = [images[i : i + self.batch_size] for i in range(0, len(images), self.batch_size)]
        outs = [
            self.encode_pixels(torch.stack(pixels)) for pixels in prefetched(chunks, self.transform)
        ]
        return {k: torch.cat([o[k] for o in outs]) for k in outs[0]}

    def encode_stages(self):
        return self.transform, self.encode_pixels

    def encode_pixels(self, pixels: torch.Tensor) -> dict[str, torch.Tensor]:
        """Views of already preprocessed pixels (B, 3, H, W); halves the batch on CUDA OOM."""
        try:
            with torch.inference_mode():
                views = self._views(pixels.to(self.device, self.dtype))
                return {k: v.float().cpu() for k, v in views.items()}
        except torch.cuda.OutOfMemoryError:
            if pixels.shape[0] == 1:
                raise
            torch.cuda.empty_cache()
            half = pixels.shape[0] // 2
            self.batch_size = max(1, min(self.batch_size, half))
            first, second = self.encode_pixels(pixels[:half]), self.encode_pixels(pixels[half:])
            return {k: torch.cat([first[k], second[k]]) for k in first}

    @abstractmethod
    def _views(self, pixels: torch.Tensor) -> dict[str, torch.Tensor]:
        """The family's feature views of one batch (runs under inference mode)."""

    def _empty_views(self) -> dict[str, torch.Tensor]:
        if self._empty is None:
            probe = Image.new("RGB", (self.transform.size, self.transform.size))
            one = self.encode_pixels(self.transform.batch([probe]))
            self._empty = {k: v[:0] for k, v in one.items()}
        return dict(self._empty)

    def close(self) -> None:
        self.module.to("cpu")
        if self.device.type == "cuda":
            torch.cuda.empty_cache()


def _positive_int(raw: object, option: str) -> int:
    try:
        value = int(str(raw))
    except ValueError:
        raise ConfigError(f"model arg {option}={raw!r} must be a positive integer") from None
    if value < 1:
        raise ConfigError(f"model arg {option}={raw!r} must be a positive integer")
    return value
