"""The per-process FG-BMK session: options, datasets, cases, model, engine, measurements.

The pytest plugin holds one :class:`FgbmkSession` on its config; everything here is plain
Python so a script can drive the same flow::

    s = FgbmkSession(SessionOptions(model="oracle"))
    s.load_data()
    cases = s.cases("attribute")
    s.answer(cases)
    m = s.measurement(cases[0])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_fgbmk.engine import (
    DEFAULT_BATCH_SIZE,
    Answer,
    Engine,
    EngineStats,
    ProgressLine,
    jobs_for,
)
from pytest_fgbmk.errors import ConfigError
from pytest_fgbmk.measurement import Asked, Measurement, measure_questions

if TYPE_CHECKING:
    from pytest_fgbmk.data.records import Dataset
    from pytest_fgbmk.models.base import GenerationSettings, ModelAdapter
    from pytest_fgbmk.questions.records import Question

TEMPLATES = ("original", "extended")
SCORING = ("strict", "official")
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


@dataclass(frozen=True)
class SessionOptions:
    """The FG-BMK options of one run (from the command line, ini keys or a script)."""

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
    synth: str = "default"
    seed: int = 0
    worker_index: int | None = None

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


@dataclass(frozen=True)
class MissingDataset:
    """A dataset the user asked for that is not under the data root (its cases skip)."""

    name: str
    reason: str


@dataclass
class DataState:
    """The session's datasets after loading: found, missing, and where they came from."""

    datasets: dict[str, Dataset] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    root: Path | None = None
    label: str = ""


class FgbmkSession:
    """One process's FG-BMK state. Cheap to create; loads data and model on demand."""

    def __init__(
        self,
        options: SessionOptions,
        *,
        write: Callable[[str], None] | None = None,
        rewrite: Callable[[str], None] | None = None,
        gate: Any = None,
    ) -> None:
        options.validate()
        self.options = options
        self._write = write
        self._rewrite = rewrite
        self.data: DataState | None = None
        self._cases: dict[str, list[Any]] = {}
        self._questions: dict[str, tuple[Question, ...]] = {}
        self._answers: dict[str, Answer] = {}
        self._measurements: dict[str, Measurement] = {}
        self._model: ModelAdapter | None = None
        self._model_args: dict[str, Any] | None = None
        self._prepared: set[str] = set()
        self._engine: Engine | None = None
        self._cache = None
        self.stats = EngineStats()
        if gate is None:
            from pytest_fgbmk.gate import SanityGate

            gate = SanityGate()
        self.gate = gate

    # -- data ----------------------------------------------------------------------

    def load_data(self) -> DataState:
        """Load the datasets' indexes (metadata only); cached for the session."""
        if self.data is None:
            self.data = self._load_synthetic() if self.options.data is None else self._load_root()
        return self.data

    def _load_synthetic(self) -> DataState:
        from pytest_fgbmk.data.synth import SynthConfig, ensure_synthetic, load_synthetic

        config = SynthConfig(**SYNTH_SIZES[self.options.synth])
        root = ensure_synthetic(config)
        loaded = {d.name: d for d in load_synthetic(root)}
        state = DataState(root=root, label=f"bundled synthetic, {self.options.synth} ({root})")
        wanted = self.options.datasets or tuple(loaded)
        for name in wanted:
            if name not in loaded:
                raise ConfigError(
                    f"--fgbmk-datasets: {name!r} is not a bundled synthetic dataset; "
                    f"use {', '.join(loaded)} (or pass --fgbmk-data ROOT for real datasets)"
                )
            state.datasets[name] = loaded[name]
        return state

    def _load_root(self) -> DataState:
        from pytest_fgbmk.data.discovery import LOADERS, discover

        root = self.options.data
        assert root is not None
        found = discover(root)
        state = DataState(root=root, label=str(root))
        wanted = self.options.datasets
        if wanted is None:
            names = sorted(found.found)
        else:
            unknown = [n for n in wanted if n not in LOADERS]
            if unknown:
                raise ConfigError(
                    f"--fgbmk-datasets: unknown dataset {', '.join(map(repr, unknown))}; "
                    f"known: {', '.join(sorted(LOADERS))}"
                )
            names = list(wanted)
        for name in names:
            if name in found.found:
                state.datasets[name] = LOADERS[name].load(found.found[name])
            else:
                state.missing[name] = found.missing.get(name, f"not found under {root}")
        if wanted is None:
            state.missing.update(
                {n: r for n, r in found.missing.items() if n not in state.datasets}
            )
        return state

    # -- cases ---------------------------------------------------------------------

    def cases(self, task: str) -> list[Any]:
        """The cases of one task over the session's datasets (metadata only)."""
        if task not in self._cases:
            from pytest_fgbmk.questions.cases import cases_for

            data = self.load_data()
            self._cases[task] = [
                c for ds in data.datasets.values() for c in cases_for(ds, (task,)) if c.task == task
            ]
        return self._cases[task]

    def missing_for(self, task: str) -> list[MissingDataset]:
        """Datasets asked for but absent: one skipped placeholder each (explicit asks only)."""
        data = self.load_data()
        if self.options.datasets is None:
            return []
        return [MissingDataset(n, r) for n, r in data.missing.items()]

    def dataset(self, name: str) -> Dataset:
        return self.load_data().datasets[name]

    def questions(self, case: Any) -> tuple[Question, ...]:
        """The questions of one case (deterministic, built on first use)."""
        if case.id not in self._questions:
            from pytest_fgbmk.questions.cases import build_questions

            self._questions[case.id] = build_questions(
                self.dataset(case.dataset),
                case,
                templates=self.options.templates,
                limit=self.options.limit,
                seed=self.options.seed,
            )
        return self._questions[case.id]

    # -- model ---------------------------------------------------------------------

    def model_args(self) -> dict[str, Any]:
        """The model's arguments: the args file, then ``k=v`` pairs, then dedicated options."""
        if self._model_args is None:
            from pytest_fgbmk.models.args import parse_model_args

            args = dict(
                parse_model_args(list(self.options.model_args), self.options.model_args_file)
            )
            if self.options.dtype is not None:
                args["dtype"] = self.options.dtype
            if self.options.batch_size is not None:
                args["batch_size"] = str(self.options.batch_size)
            device = self.options.device or args.get("device")
            args_device = self._worker_device(device)
            if args_device is not None:
                args["device"] = args_device
            self._model_args = args
        return self._model_args

    def _worker_device(self, device: str | None) -> str | None:
        """Under xdist each worker takes its own GPU: ``cuda:<worker index>``."""
        if self.options.worker_index is None or device not in (None, "auto", "cuda"):
            return device
        if not _may_have_cuda():
            return device
        import torch

        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            return device
        return f"cuda:{self.options.worker_index % count}"

    @property
    def model_loaded(self) -> bool:
        return self._model is not None

    def model(self) -> ModelAdapter:
        """The model adapter, loaded once per process."""
        if self._model is None:
            if not self.options.model:
                raise ConfigError(NO_MODEL_REASON)
            from pytest_fgbmk.models.registry import load_model

            self._model = load_model(self.options.model, **self.model_args())
        return self._model

    def settings(self) -> GenerationSettings:
        from pytest_fgbmk.models.base import GenerationSettings
        from pytest_fgbmk.models.options import ModelOptions

        opts = ModelOptions.from_mapping(self.model_args(), source="--fgbmk-model-arg")
        return GenerationSettings(
            max_new_tokens=opts.max_new_tokens, system_prompt=opts.system_prompt
        )

    def engine(self) -> Engine:
        if self._engine is None:
            from pytest_fgbmk.cache import open_cache

            self._cache = open_cache(self.options.cache)
            progress = ProgressLine(self._write, self._rewrite) if self._write else None
            self._engine = Engine(
                self.model(),
                self.settings(),
                self._cache,
                batch_size=self.options.batch_size or DEFAULT_BATCH_SIZE,
                progress=progress,
            )
        return self._engine

    # -- answers and measurements ----------------------------------------------------

    def prepare(self, dataset_names: Sequence[str]) -> None:
        """Call the model's ``prepare`` once with every dataset it will be asked about."""
        todo = [n for n in dict.fromkeys(dataset_names) if n not in self._prepared]
        if todo:
            self.model().prepare([self.dataset(n) for n in todo])
            self._prepared.update(todo)

    def answer(self, cases: Sequence[Any]) -> None:
        """Answer the questions of ``cases`` not yet answered in this process, in one run."""
        pending = [c for c in cases if any(q.id not in self._answers for q in self.questions(c))]
        if not pending:
            return
        self.prepare([c.dataset for c in pending])
        jobs = []
        for case in pending:
            jobs.extend(jobs_for(self.dataset(case.dataset), self.questions(case)))
        engine = self.engine()
        self._answers.update(engine.run(jobs))
        self.stats = engine.stats

    def measurement(self, case: Any) -> Measurement:
        """The case's measurement (answers its questions first if needed)."""
        if case.id not in self._measurements:
            self.answer([case])
            ds = self.dataset(case.dataset)
            asked = Asked(
                dataset=ds.name,
                dataset_hash=ds.index_hash,
                templates=self.options.templates,
                scoring=self.options.scoring,
                limit=self.options.limit,
                seed=self.options.seed,
            )
            self._measurements[case.id] = measure_questions(
                case, self.questions(case), self._answers, asked=asked, scoring=self.options.scoring
            )
        return self._measurements[case.id]

    def close(self) -> None:
        if self._model is not None:
            self._model.close()
        if self._cache is not None:
            self._cache.close()


def _may_have_cuda() -> bool:
    """Cheap check before importing torch: a visible NVIDIA device or an explicit list."""
    import os

    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return visible.strip() not in ("", "-1")
    return Path("/proc/driver/nvidia/gpus").is_dir() or Path("/dev/nvidia0").exists()
