"""The data model every loader produces: categories, samples and datasets as frozen records.

A loader reads metadata only; images are opened lazily through :meth:`Dataset.open_image`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path, PurePosixPath

from pytest_fgbmk.errors import DataFormatError

SPLITS = ("train", "val", "test")

#: CUB's certainty scale: 1 not visible, 2 guessing, 3 probably, 4 definitely.
CERTAINTY_NOT_VISIBLE, CERTAINTY_GUESSING, CERTAINTY_PROBABLY, CERTAINTY_DEFINITELY = 1, 2, 3, 4

#: Attribute kinds, as the paper groups them in its Table 2.
ATTRIBUTE_KINDS = ("colour", "pattern", "shape", "length", "size", "other")


@dataclass(frozen=True, slots=True)
class Category:
    """One class of a dataset: its index, display name and taxonomy path (coarse → fine).

    ``taxonomy`` has one name per level of :attr:`Dataset.levels`; the last entry is the
    category's own (finest) name. ``synonyms`` are other names the dataset gives the
    category (its common name beside the scientific one, a raw name beside the shown one);
    ``taxonomy_synonyms`` the same for the coarser entries ``taxonomy[:-1]``, one tuple per
    entry (empty: none given). A short answer or an option naming any of them counts as
    naming the category (see :func:`pytest_fgbmk.data.synonyms.checked_synonyms` for the
    rule that keeps them unambiguous).
    """

    index: int
    name: str
    taxonomy: tuple[str, ...]
    synonyms: tuple[str, ...] = ()
    taxonomy_synonyms: tuple[tuple[str, ...], ...] = ()

    def synonyms_at(self, level: int) -> tuple[str, ...]:
        """The other names of ``taxonomy[level]`` (``synonyms`` at the finest level)."""
        if level == len(self.taxonomy) - 1:
            return self.synonyms
        if 0 <= level < len(self.taxonomy_synonyms):
            return self.taxonomy_synonyms[level]
        return ()


@dataclass(frozen=True, slots=True)
class AttributeGroup:
    """An attribute group (e.g. ``wing color``) with its candidate values and kind."""

    name: str
    values: tuple[str, ...]
    kind: str = "other"
    multi: bool = True


@dataclass(frozen=True, slots=True)
class Annotation:
    """One attribute annotation of a sample: ``group → value`` with a certainty (1–4)."""

    group: str
    value: str
    certainty: int = CERTAINTY_DEFINITELY


@dataclass(frozen=True, slots=True)
class Sample:
    """One image of a dataset.

    ``path`` is a relative POSIX path inside :attr:`Dataset.root`. ``category`` indexes
    :attr:`Dataset.categories` (for a multi-label dataset it is the first label, and
    ``labels`` holds all of them). ``taxonomy`` is the category's path, coarse → fine.
    """

    id: str
    path: str
    category: int
    category_name: str
    split: str
    taxonomy: tuple[str, ...] = ()
    annotations: tuple[Annotation, ...] = ()
    meta: str = ""
    labels: tuple[int, ...] = ()

    def attribute_values(self, min_certainty: int = 1) -> dict[str, frozenset[str]]:
        """The sample's attribute values per group, keeping those at least that certain."""
        out: dict[str, set[str]] = {}
        for a in self.annotations:
            if a.certainty >= min_certainty:
                out.setdefault(a.group, set()).add(a.value)
        return {g: frozenset(v) for g, v in out.items()}


def safe_relpath(root: Path, relpath: str, *, source: str | Path, line: int | None = None) -> str:
    """Normalise ``relpath`` to a POSIX path inside ``root``; refuse one that escapes it.

    A path already in normal form (relative, no empty, ``.`` or ``..`` part: nearly every
    index line) is returned as it is, without building a ``PurePosixPath`` (whose ``str``
    would be the same): a run calls this for every sample it loads and every image it reads.
    """
    rel = relpath.strip().replace("\\", "/")
    if rel and rel[0] != "/" and rel[-1] != "/" and "//" not in rel:
        parts = rel.split("/")
        if "." not in parts and ".." not in parts:
            return rel
    p = PurePosixPath(rel)
    if not rel or p.is_absolute() or ".." in p.parts:
        raise DataFormatError(
            source,
            f"image path {relpath!r} escapes the dataset root {root}",
            line=line,
            hint="paths must be relative and stay inside the root",
        )
    return str(p)


@dataclass(frozen=True)
class Dataset:
    """A dataset's index: metadata only, cheap to build, images opened on demand."""

    name: str
    root: Path
    meta_category: str
    levels: tuple[str, ...]
    categories: tuple[Category, ...]
    samples: tuple[Sample, ...]
    attribute_groups: tuple[AttributeGroup, ...] = ()
    multilabel: bool = False
    layout: str = ""
    #: Counted problems the loader tolerated (e.g. missing images), reported, never hidden.
    skipped: tuple[str, ...] = field(default=())
    #: For layouts whose pixels are not image files (CIFAR's pickles): sample → RGB image.
    image_reader: Callable[[Sample], object] | None = field(default=None, compare=False, repr=False)
    #: How EXIF orientation tags are treated when an image file is opened: ``apply``
    #: (turned upright, the default) or ``ignore`` (:mod:`pytest_fgbmk.data.images`).
    exif_orientation: str = "apply"

    def split(self, name: str) -> tuple[Sample, ...]:
        """The samples of one split (``train``, ``val`` or ``test``)."""
        return self._by_split.get(name, ())

    @cached_property
    def _by_split(self) -> dict[str, tuple[Sample, ...]]:
        groups: dict[str, list[Sample]] = {}
        for s in self.samples:
            groups.setdefault(s.split, []).append(s)
        return {k: tuple(v) for k, v in groups.items()}

    @property
    def splits(self) -> tuple[str, ...]:
        return tuple(s for s in SPLITS if s in self._by_split)

    def category_by_name(self, name: str) -> Category:
        return self._categories_by_name[name]

    @cached_property
    def _categories_by_name(self) -> dict[str, Category]:
        return {c.name: c for c in self.categories}

    def synonyms_at(self, level: int) -> dict[str, tuple[str, ...]]:
        """Name at taxonomy level ``level`` (an index into :attr:`levels`) → its other names.

        Only names that have some are keys; the names of several categories sharing a
        coarser entry are merged in category order.
        """
        by_level = self._synonyms_by_level
        return by_level[level] if 0 <= level < len(by_level) else {}

    @cached_property
    def _synonyms_by_level(self) -> tuple[dict[str, tuple[str, ...]], ...]:
        depth = max((len(c.taxonomy) for c in self.categories), default=0)
        out: list[dict[str, tuple[str, ...]]] = [{} for _ in range(depth)]
        for c in self.categories:
            if not c.synonyms and not c.taxonomy_synonyms:
                continue
            for i, name in enumerate(c.taxonomy):
                syn = c.synonyms_at(i)
                if syn:
                    old = out[i].get(name, ())
                    out[i][name] = old + tuple(x for x in syn if x not in old)
        return tuple(out)

    def attribute_group(self, name: str) -> AttributeGroup:
        for g in self.attribute_groups:
            if g.name == name:
                return g
        raise KeyError(name)

    def sample_lookup(
        self, split: str | None = None
    ) -> tuple[dict[str, Sample], dict[str, Sample]]:
        """(id → sample, image path → sample) over one split (None: every sample), built on
        first use and kept: a run pairs every case's questions with their samples, and
        rebuilding iNat2021's 2.7M-sample maps per case cost seconds each."""
        got = self._lookups.get(split)
        if got is None:
            chosen = self.samples if split is None else self.split(split)
            got = ({s.id: s for s in chosen}, {s.path: s for s in chosen})
            self._lookups[split] = got
        return got

    @cached_property
    def _lookups(self) -> dict[str | None, tuple[dict[str, Sample], dict[str, Sample]]]:
        return {}

    def image_path(self, sample: Sample) -> Path:
        """Absolute path of a sample's image (checked to stay inside the root)."""
        rel = safe_relpath(self.root, sample.path, source=self.root)
        return self.root / rel

    def open_image(self, sample: Sample):
        """Open a sample's image as RGB (see :func:`pytest_fgbmk.data.images.load_rgb`)."""
        if self.image_reader is not None:
            return self.image_reader(sample)
        from pytest_fgbmk.data.images import load_rgb

        return load_rgb(self.image_path(sample), exif_orientation=self.exif_orientation)

    @cached_property
    def index_hash(self) -> str:
        """A hash of the sample index (ids, paths, labels, splits, taxonomy, attributes).

        Baselines and the feature cache key on it, so a changed dataset is never served
        stale results.
        """
        h = hashlib.sha256()
        h.update(f"{self.name}\0{'/'.join(self.levels)}\n".encode())
        for c in self.categories:
            h.update(f"c{c.index}\0{c.name}\0{'/'.join(c.taxonomy)}\n".encode())
        for s in self.samples:
            ann = ";".join(f"{a.group}={a.value}:{a.certainty}" for a in s.annotations)
            labels = ",".join(map(str, s.labels))
            h.update(f"{s.id}\0{s.path}\0{s.category}\0{labels}\0{s.split}\0{ann}\n".encode())
        return h.hexdigest()[:16]


def build_categories(
    names: Sequence[str], taxonomies: Iterable[Sequence[str]] | None = None
) -> tuple[Category, ...]:
    """Categories indexed 0..n-1 from names and (optionally) their taxonomy paths."""
    if taxonomies is None:
        return tuple(Category(i, n, (n,)) for i, n in enumerate(names))
    return tuple(
        Category(i, n, tuple(t)) for i, (n, t) in enumerate(zip(names, taxonomies, strict=True))
    )
