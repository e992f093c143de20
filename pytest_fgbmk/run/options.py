"""The options of one FG-BMK run: what a command line, ini keys or a script choose (no pytest).

:class:`RunOptions` is frozen and validated on use; every error names the option the way a
user writes it (``--fgbmk-limit``) and says what to give instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pytest_fgbmk.data.images import EXIF_APPLY, EXIF_MODES
from pytest_fgbmk.errors import ConfigError

TEMPLATES = ("original", "extended")
SCORING = ("strict", "official")
#: ``release``: the machine cases also report the FG-BMK release's own figures (never gated;
#: :mod:`pytest_fgbmk.machine.release_protocol`).
PROTOCOLS = ("standard", "release")
#: Sizes of the bundled synthetic data: ``default`` is the demo, ``small`` is for quick checks.
SYNTH_SIZES = {
    "default": {},
    "small": {"species_per_meta": 6, "images_per_species": 4, "size": 64},
}
DEMO_MODEL = "probe:efficientnet-lite0"
NO_MODEL_REASON = (
    "no model chosen: pass --fgbmk-model=SPEC (e.g. --fgbmk-model=oracle to check the "
    f"pipeline, or --fgbmk-model={DEMO_MODEL} for the built-in demo model)"
)
#: Seconds a worker waits for the others' measurements before it names the missing ones.
DEFAULT_BARRIER_TIMEOUT_S = 6 * 3600.0


@dataclass(frozen=True)
class RunOptions:
    """The FG-BMK options of one run (from the command line, ini keys or a script).

    ``worker_index``/``worker_count``/``run_id`` describe a run shared by several processes
    (pytest-xdist workers): each process measures its share of the cases and reads the
    others' from ``exchange`` (a folder every process sees; default: under ``cache``).
    ``exif_orientation``: ``apply`` (default) turns image files upright by their EXIF
    orientation tag, ``ignore`` keeps the stored pixels (:mod:`pytest_fgbmk.data.images`).
    ``protocol``: ``release`` adds the release's figures to the machine cases (reported
    beside ours, never gated, so no baseline records it).
    ``judge``/``judge_args``: the model spec (and its ``key=value`` arguments) asked about
    the answers ``strict`` scoring leaves unparsed (:mod:`pytest_fgbmk.judge`); None: off.
    """

    model: str | None = None
    model_args: tuple[str, ...] = ()
    model_args_file: Path | None = None
    data: Path | None = None
    datasets: tuple[str, ...] | None = None
    limit: int | None = None
    batch_size: int | None = None
    device: str | None = None
    dtype: str | None = None
    cache: Path | None = Path(".fgbmk_cache")
    templates: str = "original"
    scoring: str = "strict"
    exif_orientation: str = EXIF_APPLY
    judge: str | None = None
    judge_args: tuple[str, ...] = ()
    synth: str = "default"
    protocol: str = "standard"
    seed: int = 0
    worker_index: int | None = None
    worker_count: int = 1
    run_id: str | None = None
    exchange: Path | None = None
    barrier_timeout_s: float = DEFAULT_BARRIER_TIMEOUT_S

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the option whose value is not valid."""
        if self.templates not in TEMPLATES:
            raise ConfigError(
                f"--fgbmk-templates={self.templates!r} is not valid; use {' or '.join(TEMPLATES)}"
            )
        if self.scoring not in SCORING:
            raise ConfigError(
                f"--fgbmk-scoring={self.scoring!r} is not valid; use {' or '.join(SCORING)}"
            )
        if self.exif_orientation not in EXIF_MODES:
            raise ConfigError(
                f"--fgbmk-exif-orientation={self.exif_orientation!r} is not valid; use "
                f"{' or '.join(EXIF_MODES)}"
            )
        if self.judge is not None and not self.judge.strip():
            raise ConfigError("--fgbmk-judge is empty; give a model spec (e.g. openai:gpt-4o)")
        texts = (
            ("--fgbmk-model", "a model spec (e.g. oracle)", (self.model,)),
            ("--fgbmk-device", "auto, cpu, cuda or cuda:N", (self.device,)),
            ("--fgbmk-dtype", "auto, bf16, fp16 or fp32", (self.dtype,)),
            ("--fgbmk-model-arg", "key=value", self.model_args),
            ("--fgbmk-judge-arg", "key=value", self.judge_args),
        )
        for flag, wanted, given in texts:
            if any(t is not None and not t.strip() for t in given):
                raise ConfigError(f"{flag} is empty; give {wanted}, or leave the option out")
        if self.judge and self.scoring == "official":
            raise ConfigError(
                "--fgbmk-judge cannot be combined with --fgbmk-scoring=official: official is "
                "the release's rule exactly and is never judged; drop --fgbmk-judge, or use "
                "--fgbmk-scoring=strict"
            )
        if self.templates == "extended" and self.scoring == "official":
            raise ConfigError(
                "--fgbmk-templates=extended cannot be combined with --fgbmk-scoring=official: "
                "the extended multiple-choice templates ask for the option's letter, which the "
                "release's rule scores 0; use --fgbmk-scoring=strict, or the original templates"
            )
        if self.judge_args and not self.judge:
            raise ConfigError("--fgbmk-judge-arg is given without --fgbmk-judge; add the judge")
        if self.protocol not in PROTOCOLS:
            raise ConfigError(
                f"--fgbmk-protocol={self.protocol!r} is not valid; use {' or '.join(PROTOCOLS)}"
            )
        if self.synth not in SYNTH_SIZES:
            raise ConfigError(
                f"--fgbmk-synth={self.synth!r} is not valid; use {' or '.join(SYNTH_SIZES)}"
            )
        if self.limit is not None and self.limit < 1:
            raise ConfigError(f"--fgbmk-limit must be at least 1, got {self.limit}")
        if self.batch_size is not None and self.batch_size < 1:
            raise ConfigError(f"--fgbmk-batch-size must be at least 1, got {self.batch_size}")
        if self.data is not None and not self.data.is_dir():
            raise ConfigError(
                f"--fgbmk-data={self.data}: no such folder; give the folder that holds the "
                "datasets (e.g. ROOT/CUB_200_2011), or leave it out to use the bundled data"
            )
        if self.datasets is not None and not self.datasets:
            raise ConfigError("--fgbmk-datasets is empty; give names separated by commas")
        if self.worker_count < 1:
            raise ConfigError(f"worker_count must be at least 1, got {self.worker_count}")
        if self.worker_count > 1 and not self.run_id:
            raise ConfigError("a run shared by several workers needs a run_id")

    @property
    def shared(self) -> bool:
        """True when several processes share this run (each measures a part)."""
        return self.worker_count > 1
