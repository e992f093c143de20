"""The model interface: two optional, batch-first capabilities behind one small adapter.

* answer: a batch of (image, prompt) requests → a batch of texts (greedy by default).
* encode: a batch of images → named feature views (``cls``, ``patch_mean``, ``blocks``,
  ``aligned``), each a float tensor of shape (batch, dim); ``blocks`` is (batch, n, dim).

Adapters subclass :class:`ModelAdapter` and set ``can_answer`` / ``can_encode``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    import torch
    from PIL import Image

    from pytest_fgbmk.data.records import Dataset, Sample
    from pytest_fgbmk.machine.feature_store import FeatureStore
    from pytest_fgbmk.progress import ProgressOutput
    from pytest_fgbmk.questions.records import Question

#: Feature view names an encoder may return.
VIEWS = ("cls", "patch_mean", "blocks", "aligned")


@dataclass(frozen=True)
class GenerationSettings:
    """How answers are generated. Temperature 0 means greedy decoding (the paper's setting)."""

    max_new_tokens: int = 32
    temperature: float = 0.0
    system_prompt: str | None = None

    def key(self) -> str:
        """A stable string that identifies these settings (the cache keys on it)."""
        return f"mnt={self.max_new_tokens};t={self.temperature};sys={self.system_prompt or ''}"


@dataclass(frozen=True)
class AnswerRequest:
    """One question to answer: the image, the prompt text, and the question record.

    Real models read only ``image`` and ``prompt``; reference models (``oracle``,
    ``chance``, ``probe:``) also read ``question`` (its options, truth or facet).
    """

    image: Image.Image
    prompt: str
    question: Question | None = None


@dataclass(frozen=True)
class FailedAnswer:
    """An answer entry for a request that failed alone (e.g. a remote endpoint gave up).

    ``answer()`` may return it in place of a text; the engine counts and reports it as an
    error answer and never caches it as a success. ``reason`` never holds a secret.
    """

    reason: str


@dataclass(frozen=True)
class Preprocessing:
    """An encoder's preferred image preprocessing (what features are computed from)."""

    size: int = 224
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    crop: str = "center"
    extra: dict[str, Any] = field(default_factory=dict)

    def key(self) -> str:
        return f"{self.size};{self.mean};{self.std};{self.crop};{sorted(self.extra.items())}"


class ModelAdapter(ABC):
    """Base of every model adapter.

    Subclasses override :meth:`answer` and/or :meth:`encode` and set the matching flag.
    ``fingerprint`` identifies the weights and settings; caches and baselines key on it.
    """

    name: str = "model"
    can_answer: bool = False
    can_encode: bool = False
    #: The smallest batch of answer requests that keeps this model busy; callers that
    #: batch (the engine, the judge) never send smaller batches (except a run's last).
    #: 1 for a local model; a remote endpoint that answers a batch with N concurrent
    #: requests needs several times N, since each batch waits for its slowest request.
    min_batch_size: int = 1
    #: How many :meth:`answer` calls the engine may have running at once (on threads):
    #: 1 for a local model; 2 for a remote endpoint whose concurrency limit spans its
    #: calls, so the next batch's requests fill the slots the current batch leaves idle.
    concurrent_calls: int = 1
    #: The family's own model args that change what it answers or encodes besides its
    #: weights (``fixed_new_tokens``, ``max_pixels`` …): baselines record them
    #: (:meth:`pytest_fgbmk.models.options.ModelOptions.recorded`), so a run with other
    #: values is never compared with them. Args that name the model itself (a checkpoint's
    #: weights, ``chance``'s seed) or where it runs (device, endpoint, retries) are not listed.
    recorded_args: tuple[str, ...] = ()
    #: For a built-in model whose answers come from this tool's own code or weights (the
    #: ``probe:`` model's head fitting, ``tiny-llava``'s generated weights): their version,
    #: ``name=version``, recorded with the model settings so a change of them asks for new
    #: baselines; empty for a checkpoint (its weights are what a baseline compares).
    implementation: str = ""

    @property
    @abstractmethod
    def fingerprint(self) -> str:
        """What identifies the weights and settings (cheap to compute)."""

    @property
    def features_fingerprint(self) -> str:
        """What identifies this model's *encode* outputs; feature caches key on it.

        Its :attr:`fingerprint` by default; a model that encodes through another one (the
        ``probe:`` model through its encoder) returns that model's, so both share cached
        features.
        """
        return self.fingerprint

    @property
    def preprocessing(self) -> Preprocessing:
        return Preprocessing()

    def prepare(self, datasets: Sequence[Dataset]) -> None:  # noqa: B027 - optional hook
        """Called once with the session's datasets before any question (probe heads fit here)."""

    def prepare_images(self, dataset: Dataset) -> Sequence[Sample]:
        """The samples whose images :meth:`prepare` reads from ``dataset`` (none by default;
        the ``probe:`` model's train split). The run checks them with the images of the
        questions, before any is read (:mod:`pytest_fgbmk.data.verify`)."""
        return ()

    def use_feature_store(self, store: FeatureStore) -> None:  # noqa: B027 - optional hook
        """The run's feature store (the one its machine cases use); a model that encodes
        images for itself (the ``probe:`` model's train split) reads and writes there."""

    def use_progress(self, output: ProgressOutput | None) -> None:  # noqa: B027
        """Where the model's own long steps (``prepare``) report progress; None: silent."""

    def answer(
        self, requests: Sequence[AnswerRequest], settings: GenerationSettings
    ) -> list[str | FailedAnswer]:
        raise TypeError(f"model {self.name!r} cannot answer questions (it has no text output)")

    def encode(self, images: Sequence[Image.Image]) -> dict[str, torch.Tensor]:
        raise TypeError(f"model {self.name!r} cannot encode images (it exposes no features)")

    def encode_stages(
        self,
    ) -> tuple[Callable[[Image.Image], torch.Tensor], Callable[[torch.Tensor], dict]] | None:
        """``(preprocess one image, encode a stacked batch)`` when :meth:`encode` is exactly
        that pipeline, so a caller may preprocess on its own threads ahead of the model;
        ``None`` (the default) when it is not."""
        return None

    def close(self) -> None:  # noqa: B027 - optional hook
        """Free what the model holds (GPU memory, connections)."""

    def __enter__(self) -> ModelAdapter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
