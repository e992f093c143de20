"""Designing a fine-grained taxonomy: sibling nodes differ in one or two visible attributes.

The tree is order → family → genus → species. Each level fixes its own attribute groups
(e.g. birds: order → bill shape + size, species → breast + crown colour), and siblings
get distinct, visibly different values for exactly those groups, so two sibling species
look alike except for one or two attributes. The design depends only on the meta-category
and the number of species (its own fixed seed), never on the image seed, so changing the
seed draws new images of the same species.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from pytest_fgbmk.data.synth_render import COLORS, color_distance

#: Children per parent below the top level: families per order, genera per family,
#: species per genus.
BRANCHING = {"family": 2, "genus": 2, "species": 3}
#: Two colours differ visibly when their RGB distance is at least this.
MIN_COLOR_DISTANCE = 110.0


@dataclass(frozen=True)
class LevelSpec:
    """One designed level: its name and the attribute groups (with vocabularies) it fixes."""

    name: str
    groups: tuple[tuple[str, tuple[str, ...]], ...]
    #: Optional filter on one node's values (e.g. a flower centre unlike its petals).
    allowed: Callable[[Mapping[str, str]], bool] | None = None


@dataclass(frozen=True)
class SpeciesDesign:
    """One designed species: the node index at each level and its full attribute look."""

    index: int
    path: tuple[int, int, int, int]  # order, family, genus, species-in-genus
    look: tuple[tuple[str, str], ...]

    @property
    def attributes(self) -> dict[str, str]:
        return dict(self.look)


@dataclass(frozen=True)
class Drawn:
    """One rendered image as the writer laid it out: its path in the layout, species, split."""

    path: str
    species: int
    split: str


def capacity(levels: Sequence[LevelSpec]) -> int:
    """The most species a design can hold (the top level's distinct value tuples × fan-out)."""
    top = 1
    for _, values in levels[0].groups:
        top *= len(values)
    return top * BRANCHING["family"] * BRANCHING["genus"] * BRANCHING["species"]


def _visibly_different(a: Mapping[str, str], b: Mapping[str, str]) -> bool:
    differing = [g for g in a if a[g] != b[g]]
    if not differing:
        return False
    return all(
        color_distance(a[g], b[g]) >= MIN_COLOR_DISTANCE
        for g in differing
        if a[g] in COLORS and b[g] in COLORS
    )


def _choose(level: LevelSpec, k: int, rng: np.random.Generator) -> list[dict[str, str]]:
    """``k`` sibling value sets for ``level``: distinct and visibly different pairwise."""
    names = [g for g, _ in level.groups]
    combos = [
        dict(zip(names, vals, strict=True))
        for vals in itertools.product(*(v for _, v in level.groups))
    ]
    if level.allowed is not None:
        combos = [c for c in combos if level.allowed(c)]
    order = rng.permutation(len(combos))
    picked: list[dict[str, str]] = []
    for i in order:
        cand = combos[int(i)]
        if all(_visibly_different(cand, p) for p in picked):
            picked.append(cand)
            if len(picked) == k:
                return picked
    raise ValueError(f"level {level.name!r} cannot hold {k} visibly different siblings")


def design(levels: Sequence[LevelSpec], n_species: int, seed: Sequence[int]) -> list[SpeciesDesign]:
    """Design ``n_species`` species over four levels (order, family, genus, species)."""
    if n_species > capacity(levels):
        raise ValueError(f"at most {capacity(levels)} species fit this design, asked {n_species}")
    rng = np.random.default_rng(list(seed))
    n_genus = -(-n_species // BRANCHING["species"])
    n_family = -(-n_genus // BRANCHING["genus"])
    n_order = -(-n_family // BRANCHING["family"])
    orders = _choose(levels[0], n_order, rng)
    families = [v for o in range(n_order) for v in _choose(levels[1], BRANCHING["family"], rng)][
        :n_family
    ]
    genera = [v for f in range(n_family) for v in _choose(levels[2], BRANCHING["genus"], rng)][
        :n_genus
    ]
    out: list[SpeciesDesign] = []
    for s in range(n_species):
        g = s // BRANCHING["species"]
        if s % BRANCHING["species"] == 0:
            siblings = _choose(levels[3], BRANCHING["species"], rng)
        f = g // BRANCHING["genus"]
        o = f // BRANCHING["family"]
        look = {**orders[o], **families[f], **genera[g], **siblings[s % BRANCHING["species"]]}
        out.append(SpeciesDesign(s, (o, f, g, s % BRANCHING["species"]), tuple(look.items())))
    return out


_SYLLABLES = (
    "ar", "bel", "cor", "dra", "el", "fen", "gal", "hes", "ir", "jun", "kal", "lor", "mer",
    "nor", "ost", "pel", "quin", "ros", "sal", "tor", "ul", "ver", "zan", "myr", "cal", "tes",
)  # fmt: skip


def invented_stems(n: int, seed: Sequence[int]) -> list[str]:
    """``n`` distinct pronounceable lowercase stems of two syllables (``"rosbel"``)."""
    rng = np.random.default_rng(list(seed))
    pairs = [a + b for a, b in itertools.product(_SYLLABLES, repeat=2) if a != b]
    if n > len(pairs):
        raise ValueError(f"at most {len(pairs)} stems, asked {n}")
    return [pairs[int(i)] for i in rng.permutation(len(pairs))[:n]]
