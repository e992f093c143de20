"""A model that answers and encodes, so one run holds both kinds of gated cases:
``--fgbmk-model=tests.baselines.baselines_encoder:factory`` (with ``--fgbmk-synth=small``).

It answers like :mod:`tests.baselines.baselines_flip`, and encodes an image of the small
synthetic data to the one-hot vector of its species (looked up by a digest of its pixels;
birds' species first, then flowers'), plus ``noise=S`` times Gaussian noise seeded by the
image, so the same image always gets the same features.
"""

from __future__ import annotations

import hashlib

import torch

from pytest_fgbmk.data.synth import SynthConfig, ensure_synthetic, load_synthetic
from pytest_fgbmk.run.options import SYNTH_SIZES
from tests.baselines.baselines_flip import Flip


def digest(image) -> str:
    return hashlib.sha256(image.tobytes()).hexdigest()


def species_table() -> dict[str, int]:
    """Pixel digest → global species index over the small synthetic datasets."""
    table: dict[str, int] = {}
    offset = 0
    for ds in load_synthetic(ensure_synthetic(SynthConfig(**SYNTH_SIZES["small"]))):
        for s in ds.samples:
            table[digest(ds.open_image(s))] = offset + s.category
        offset += len(ds.categories)
    return table


class SpeciesEncoder(Flip):
    name = "species-encoder"
    can_encode = True

    def __init__(self, options) -> None:
        super().__init__(options)
        self.noise = float(options.extra.get("noise", 0))
        self._table: dict[str, int] | None = None

    @property
    def fingerprint(self) -> str:
        return f"species-{super().fingerprint}-noise{self.noise}"

    def _features(self, image, table: dict[str, int], dim: int) -> torch.Tensor:
        key = digest(image)
        x = torch.zeros(dim)
        x[table[key]] = 1.0
        if self.noise:
            gen = torch.Generator().manual_seed(int(key[:8], 16))
            x = x + self.noise * torch.randn(dim, generator=gen)
        return x

    def encode(self, images):
        if self._table is None:
            self._table = species_table()
        dim = max(self._table.values()) + 1
        return {"cls": torch.stack([self._features(im, self._table, dim) for im in images])}


def factory(options) -> SpeciesEncoder:
    return SpeciesEncoder(options)
