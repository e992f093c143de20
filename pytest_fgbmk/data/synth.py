"""The bundled synthetic fine-grained datasets: birds (CUB layout) and flowers (iNat2021 layout).

Procedurally rendered, deterministic from a seed, every label visible in the pixels (see
:mod:`~pytest_fgbmk.data.synth_render` and :mod:`~pytest_fgbmk.data.synth_design`).
:func:`ensure_synthetic` renders a data root once and caches it under the user cache
directory (``platformdirs.user_cache_dir("pytest-fgbmk")/synth/<key>``, or
``$FGBMK_SYNTH_DIR/<key>``); the key hashes :data:`SYNTH_VERSION` and the
:class:`SynthConfig`, so a new generator or other arguments render afresh. A root holds::

    <root>/synth.json      the version and config (written last: marks it complete)
    <root>/cub/            the birds in the CUB-200-2011 layout + synth_taxonomy.json
    <root>/inat2021/       the flowers in the iNat2021 json layout + synth_attributes.json

Rendering goes to a temporary folder beside the cache entry, renamed into place at the
end: a killed run never leaves half a dataset, and processes rendering the same key at
once (xdist workers) coordinate through a lock file, falling back on the atomic rename.
:func:`load_synthetic` reads both back through the real loaders
(:mod:`~pytest_fgbmk.data.cub`, :mod:`~pytest_fgbmk.data.inat2021`) and applies the
sidecars: the bird levels CUB cannot hold (order, family) and the flower attributes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import shutil
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pytest_fgbmk.data import synth_birds, synth_flowers
from pytest_fgbmk.data.records import Annotation, AttributeGroup, Dataset
from pytest_fgbmk.data.synth_design import Drawn, capacity
from pytest_fgbmk.errors import ConfigError, DataFormatError
from pytest_fgbmk.hashing import sha256_hex
from pytest_fgbmk.progress import Progress, ProgressOutput

#: Bump whenever rendering, design or layout changes: cached roots are then re-rendered.
SYNTH_VERSION = "2"
MANIFEST = "synth.json"
ENV_DIR = "FGBMK_SYNTH_DIR"
BIRDS_DIR, FLOWERS_DIR = "cub", "inat2021"
NAMES = ("synth_birds", "synth_flowers")
#: The most species per meta-category the designs hold (distinct looks at every level).
MAX_SPECIES = min(capacity(synth_birds.DESIGN_LEVELS), capacity(synth_flowers.DESIGN_LEVELS))

#: A lock untouched for this long, or held by a dead process of this host, is abandoned.
STALE_LOCK_S = 120.0
_POLL_S = 0.2
#: Progress goes to stderr for generations of at least this many images.
PROGRESS_MIN_IMAGES = 400


@dataclass(frozen=True)
class SynthConfig:
    """What to render: species per meta-category, images per species, pixels, seed, split."""

    species_per_meta: int = 24
    images_per_species: int = 30
    size: int = 128
    seed: int = 0
    train_fraction: float = 0.5

    def __post_init__(self) -> None:
        checks = (
            (
                2 <= self.species_per_meta <= MAX_SPECIES,
                f"species_per_meta must be 2..{MAX_SPECIES}",
            ),
            (self.images_per_species >= 2, "images_per_species must be at least 2"),
            (32 <= self.size <= 1024, "size must be 32..1024 pixels"),
            (0.0 < self.train_fraction < 1.0, "train_fraction must be strictly between 0 and 1"),
            (isinstance(self.seed, int) and self.seed >= 0, "seed must be an integer >= 0"),
        )
        for ok, message in checks:
            if not ok:
                raise ConfigError(f"SynthConfig: {message} (got {self})")

    @property
    def n_train(self) -> int:
        """Training images per species (at least one, and at least one left for test)."""
        n = round(self.images_per_species * self.train_fraction)
        return min(max(n, 1), self.images_per_species - 1)

    def key(self) -> str:
        """The cache folder name: readable arguments plus a hash of version and config."""
        blob = json.dumps({"version": SYNTH_VERSION, **dataclasses.asdict(self)}, sort_keys=True)
        digest = sha256_hex(blob, 12)
        return (
            f"s{self.species_per_meta}-i{self.images_per_species}-{self.size}px"
            f"-seed{self.seed}-{digest}"
        )


DEFAULT_CONFIG = SynthConfig()


def cache_parent(cache_dir: Path | None = None) -> Path:
    """Where cached roots live: ``cache_dir``, else ``$FGBMK_SYNTH_DIR``, else the user cache."""
    if cache_dir is not None:
        return Path(cache_dir)
    env = os.environ.get(ENV_DIR)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("pytest-fgbmk")) / "synth"


def _manifest(config: SynthConfig) -> dict:
    return {"synth_version": SYNTH_VERSION, "config": dataclasses.asdict(config)}


def is_complete(root: Path, config: SynthConfig) -> bool:
    """Whether ``root`` is a finished rendering of ``config`` by this generator version."""
    try:
        found = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return found == _manifest(config)


def ensure_synthetic(
    config: SynthConfig = DEFAULT_CONFIG,
    cache_dir: Path | None = None,
    *,
    progress: ProgressOutput | None | Literal["stderr"] = "stderr",
) -> Path:
    """The data root of ``config``: reused from the cache, or rendered now (once per key).

    ``progress``: where the rendering progress goes (default stderr, shown from
    :data:`PROGRESS_MIN_IMAGES` images on; None: silent). Raises ConfigError when the cache
    folder cannot be created.
    """
    parent = cache_parent(cache_dir)
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(
            f"cannot create the synthetic-data cache {parent}: {e} "
            f"(set {ENV_DIR} to a writable folder)"
        ) from None
    final = parent / config.key()
    lock = parent / f"{final.name}.lock"
    while True:
        if is_complete(final, config):
            return final
        if _acquire(lock):
            try:
                if not is_complete(final, config):
                    _render_into_place(config, final, lock, progress)
                return final
            finally:
                _release(lock)
        _wait_for(final, config, lock)


def generate(
    config: SynthConfig, dest: Path, on_image: Callable[[], None] = lambda: None
) -> dict[str, list[Drawn]]:
    """Render both meta-categories of ``config`` into the empty or absent folder ``dest``.

    Returns what was drawn per dataset name (path in its layout, species index, split).
    """
    dest.mkdir(parents=True, exist_ok=True)
    args = (
        config.species_per_meta,
        config.images_per_species,
        config.n_train,
        config.size,
        config.seed,
        on_image,
    )
    drawn = {
        NAMES[0]: synth_birds.write_cub(dest / BIRDS_DIR, *args),
        NAMES[1]: synth_flowers.write_inat(dest / FLOWERS_DIR, *args),
    }
    (dest / MANIFEST).write_text(json.dumps(_manifest(config), indent=1), encoding="utf-8")
    return drawn


# --- cache entry life cycle -----------------------------------------------------------------


def _host_tag() -> str:
    return hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]


def _render_into_place(
    config: SynthConfig,
    final: Path,
    lock: Path,
    output: ProgressOutput | None | Literal["stderr"] = "stderr",
) -> None:
    parent = final.parent
    _remove_abandoned(parent, final.name)
    tmp = parent / f".tmp-{final.name}-{_host_tag()}-{os.getpid()}-{os.urandom(3).hex()}"
    progress = _Progress(config, lock, output)
    try:
        generate(config, tmp, progress.tick)
        if is_complete(final, config):  # another process finished first: keep its copy
            return
        if final.exists():  # incomplete or foreign: move aside, then drop
            trash = parent / f".old-{final.name}-{os.urandom(3).hex()}"
            os.rename(final, trash)
            shutil.rmtree(trash, ignore_errors=True)
        try:
            os.rename(tmp, final)
        except OSError:
            if not is_complete(final, config):
                raise
        progress.done(final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _remove_abandoned(parent: Path, name: str) -> None:
    """Drop temporary folders of ``name`` whose rendering process on this host is gone."""
    prefix = f".tmp-{name}-{_host_tag()}-"
    for entry in parent.iterdir():
        if entry.name.startswith(prefix):
            pid = entry.name[len(prefix) :].split("-")[0]
            if pid.isdigit() and not _alive(int(pid)):
                shutil.rmtree(entry, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _acquire(lock: Path) -> bool:
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    except OSError as e:
        raise ConfigError(
            f"cannot write in the synthetic-data cache {lock.parent}: {e} "
            f"(set {ENV_DIR} to a writable folder)"
        ) from None
    with os.fdopen(fd, "w") as fh:
        fh.write(f"{_host_tag()} {os.getpid()}\n")
    return True


def _release(lock: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        lock.unlink()


def _lock_is_stale(lock: Path) -> bool:
    try:
        owner = lock.read_text(encoding="utf-8").split()
        age = time.time() - lock.stat().st_mtime
    except (OSError, ValueError):
        return False  # released meanwhile: the caller retries
    if len(owner) == 2 and owner[0] == _host_tag() and owner[1].isdigit():
        return not _alive(int(owner[1]))
    return age > STALE_LOCK_S


def _wait_for(final: Path, config: SynthConfig, lock: Path) -> None:
    """Wait while another process renders ``final``; break its lock if it died."""
    while lock.exists() and not is_complete(final, config):
        if _lock_is_stale(lock):
            stale = lock.with_name(f"{lock.name}.stale-{os.urandom(3).hex()}")
            try:
                os.rename(lock, stale)
                stale.unlink()
            except OSError:
                pass
            return
        time.sleep(_POLL_S)


class _Progress:
    """Counts rendered images: refreshes the lock (a heartbeat) and reports through
    :class:`~pytest_fgbmk.progress.Progress` (only from :data:`PROGRESS_MIN_IMAGES` on)."""

    def __init__(
        self, config: SynthConfig, lock: Path, output: ProgressOutput | None | Literal["stderr"]
    ) -> None:
        self.total = 2 * config.species_per_meta * config.images_per_species
        self.lock = lock
        self.count = 0
        loud = self.total >= PROGRESS_MIN_IMAGES
        out = ProgressOutput.stderr() if output == "stderr" else output
        self.output = out if loud and isinstance(out, ProgressOutput) else None
        if self.output is not None:
            self.output.write(
                f"pytest-fgbmk: rendering {self.total} synthetic images "
                f"({config.species_per_meta} species x {config.images_per_species} images "
                f"x 2 meta-categories, {config.size}px) ..."
            )
        self.bar = Progress(self.output, "pytest-fgbmk: rendering", self.total, "images")

    def tick(self) -> None:
        self.count += 1
        if self.count % 50 == 0:
            with contextlib.suppress(OSError):
                os.utime(self.lock)
        self.bar.update()

    def done(self, root: Path) -> None:
        self.bar.close()
        if self.output is not None:
            self.output.write(f"pytest-fgbmk: synthetic data ready in {root}")


# --- reading back -----------------------------------------------------------------------


def _read_sidecar(path: Path) -> dict:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataFormatError(
            path, "missing: the synthetic data's sidecar", hint="delete the folder to re-render"
        ) from None
    except ValueError as e:
        raise DataFormatError(path, f"is not valid JSON: {e}") from None
    if not isinstance(doc, dict):
        raise DataFormatError(path, "expected a JSON object")
    return doc


def _birds(root: Path) -> Dataset:
    from pytest_fgbmk.data import cub

    base = root / BIRDS_DIR
    ds = cub.load(base)
    sidecar_path = base / synth_birds.SIDECAR
    side = _read_sidecar(sidecar_path)
    levels = tuple(side.get("levels", ()))
    paths = side.get("categories", {})
    kinds = side.get("attribute_kinds", {})
    categories = []
    for c in ds.categories:
        full = tuple(paths.get(c.name, ()))
        if len(full) != len(levels) or tuple(full[i] for i in (0, 3, 4)) != c.taxonomy:
            raise DataFormatError(
                sidecar_path,
                f"category {c.name!r}: taxonomy {full} does not extend CUB's {c.taxonomy}",
                hint="the folder is not one rendering: delete it to re-render",
            )
        categories.append(dataclasses.replace(c, taxonomy=full))
    samples = tuple(
        dataclasses.replace(s, taxonomy=categories[s.category].taxonomy, meta=synth_birds.META)
        for s in ds.samples
    )
    groups = tuple(
        dataclasses.replace(g, kind=kinds.get(g.name, g.kind)) for g in ds.attribute_groups
    )
    return dataclasses.replace(
        ds,
        name=NAMES[0],
        meta_category=synth_birds.META,
        levels=levels,
        categories=tuple(categories),
        samples=samples,
        attribute_groups=groups,
    )


def _flowers(root: Path) -> Dataset:
    from pytest_fgbmk.data import inat2021

    base = root / FLOWERS_DIR
    ds = inat2021.load(base)
    sidecar_path = base / synth_flowers.SIDECAR
    side = _read_sidecar(sidecar_path)
    groups = tuple(
        AttributeGroup(g["name"], tuple(g["values"]), kind=g["kind"], multi=False)
        for g in side.get("groups", ())
    )
    by_category = side.get("categories", {})
    annotations: list[tuple[Annotation, ...]] = []
    for c in ds.categories:
        values = by_category.get(c.name)
        if not isinstance(values, dict) or any(g.name not in values for g in groups):
            raise DataFormatError(
                sidecar_path,
                f"no attributes for category {c.name!r}",
                hint="the folder is not one rendering: delete it to re-render",
            )
        annotations.append(tuple(Annotation(g.name, values[g.name]) for g in groups))
    samples = tuple(
        dataclasses.replace(s, annotations=annotations[s.category], meta=synth_flowers.META)
        for s in ds.samples
    )
    return dataclasses.replace(
        ds,
        name=NAMES[1],
        meta_category=synth_flowers.META,
        samples=samples,
        attribute_groups=groups,
    )


def load_synthetic(root: Path) -> list[Dataset]:
    """``[synth_birds, synth_flowers]`` read back from a data root of :func:`ensure_synthetic`."""
    root = Path(root)
    return [_birds(root), _flowers(root)]


def default_datasets(config: SynthConfig = DEFAULT_CONFIG) -> list[Dataset]:
    """Render (or reuse) ``config`` and load it: the datasets the bundled demo runs on."""
    return load_synthetic(ensure_synthetic(config))


__all__ = [
    "SYNTH_VERSION",
    "SynthConfig",
    "default_datasets",
    "ensure_synthetic",
    "generate",
    "is_complete",
    "load_synthetic",
]
