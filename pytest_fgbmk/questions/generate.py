"""Question generators: attribute recognition, knowledge bias and hierarchical granularity.

Each generator is deterministic from its seed and independent of the order of the dataset's
samples (it works on the samples sorted by id). True/false sets are exactly balanced: half
the questions ask about the image's own name or value (truth ``"yes"``), half about another
(``"no"``); when the number of images is odd one image gets both. Negatives and
multiple-choice distractors are drawn siblings first (same parent at that level), then from
the nearest ancestor with enough children, then — for a level where the dataset holds too
few names — from :data:`templates.BUILTIN_SIBLINGS`. A candidate is never the truth after
normalisation and never holds the truth as whole words, nor the other way round.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pytest_fgbmk.data.records import CERTAINTY_PROBABLY, Dataset, Sample
from pytest_fgbmk.errors import ConfigError
from pytest_fgbmk.questions.ids import question_id
from pytest_fgbmk.questions.records import Question
from pytest_fgbmk.questions.templates import (
    BUILTIN_SIBLINGS,
    LEVEL_PLURALS,
    TemplateSet,
    attribute_noun,
    format_options,
    noun_for,
)
from pytest_fgbmk.questions.text import clashes, normalize

#: Options per multiple-choice question (truth + 3 distractors).
MC_OPTIONS = 4


def level_word(facet: str) -> str:
    """A level or attribute group as the prompt writes it ("wing_color" → "wing color")."""
    return facet.replace("_", " ").strip()


def dataset_levels(dataset: Dataset) -> tuple[str, ...]:
    """The dataset's taxonomy levels (``("category",)`` when it declares none)."""
    return dataset.levels or ("category",)


def sample_path(dataset: Dataset, sample: Sample) -> tuple[str, ...]:
    """A sample's taxonomy path, coarse → fine, one name per level."""
    n = len(dataset_levels(dataset))
    if len(sample.taxonomy) == n:
        return sample.taxonomy
    if 0 <= sample.category < len(dataset.categories):
        tax = dataset.categories[sample.category].taxonomy
        if len(tax) == n:
            return tax
    return (sample.category_name,) if n == 1 else ("",) * (n - 1) + (sample.category_name,)


def _sorted_samples(samples: Sequence[Sample]) -> list[Sample]:
    return sorted(samples, key=lambda s: (s.id, s.path))


def _match_case(name: str, like: str) -> str:
    return name[:1].upper() + name[1:] if like[:1].isupper() else name


@dataclass
class LevelPools:
    """Candidate names at one taxonomy level, grouped by ancestor, for drawing distractors."""

    level: int
    #: (depth, ancestor prefix) → names at this level under that ancestor, sorted.
    by_prefix: dict[tuple[int, tuple[str, ...]], list[str]]
    builtin: tuple[str, ...]
    _cache: dict[tuple[str, ...], list[list[str]]] = field(default_factory=dict)

    @classmethod
    def build(cls, dataset: Dataset, level: int) -> LevelPools:
        paths = {c.taxonomy for c in dataset.categories if len(c.taxonomy) > level}
        paths.update(sample_path(dataset, s) for s in dataset.samples)
        groups: dict[tuple[int, tuple[str, ...]], set[str]] = {}
        for p in paths:
            if len(p) <= level or not p[level]:
                continue
            for depth in range(level + 1):
                groups.setdefault((depth, p[:depth]), set()).add(p[level])
        levels = dataset_levels(dataset)
        builtin = BUILTIN_SIBLINGS.get(levels[level], ()) if level < len(levels) else ()
        return cls(level, {k: sorted(v) for k, v in groups.items()}, builtin)

    @property
    def names(self) -> list[str]:
        return self.by_prefix.get((0, ()), [])

    def usable(self) -> bool:
        """Whether questions can be asked: at least two names, counting the built-in list."""
        if len(self.names) >= 2:
            return True
        distinct = {normalize(n) for n in self.names} | {normalize(n) for n in self.builtin}
        return bool(self.builtin) and len(distinct) >= 2

    def pools(self, path: tuple[str, ...]) -> list[list[str]]:
        """Candidate lists for a truth path, nearest first, disjoint, none clashing with it."""
        got = self._cache.get(path)
        if got is not None:
            return got
        truth = path[self.level]
        seen = {normalize(truth)}
        out: list[list[str]] = []
        for depth in range(self.level, -1, -1):
            pool = []
            for name in self.by_prefix.get((depth, path[:depth]), ()):
                key = normalize(name)
                if key not in seen and not clashes(name, truth):
                    seen.add(key)
                    pool.append(name)
            if pool:
                out.append(pool)
        extra = []
        for name in self.builtin:
            key = normalize(name)
            if key not in seen and not clashes(name, truth):
                seen.add(key)
                extra.append(_match_case(name, truth))
        if extra:
            out.append(extra)
        self._cache[path] = out
        return out


def draw(pools: list[list[str]], k: int, rng: random.Random) -> list[str]:
    """Up to ``k`` names, nearest pools first, sampled uniformly within the last pool used."""
    chosen: list[str] = []
    for pool in pools:
        need = k - len(chosen)
        if need <= 0:
            break
        if len(pool) <= need:
            chosen.extend(pool)
        else:
            chosen.extend(rng.sample(pool, need))
    return chosen


def balanced_roles(
    items: list, can_negative: Callable[[object], bool], rng: random.Random
) -> list[tuple[object, bool]]:
    """(item, positive?) pairs, exactly half positive, every item used where possible.

    An odd count gives one item both a positive and a negative question. Items that cannot
    take a negative are used as positives only as far as negatives balance them.
    """
    order = list(items)
    rng.shuffle(order)
    negs = [x for x in order if can_negative(x)]
    n = len(order)
    half = (n + 1) // 2
    if len(negs) >= half:
        neg_set = negs[:half]
        neg_ids = {id(x) for x in neg_set}
        pos = [x for x in order if id(x) not in neg_ids]
        if n % 2:
            pos.append(neg_set[0])
    else:
        neg_set = negs
        neg_ids = {id(x) for x in neg_set}
        pos = [x for x in order if id(x) not in neg_ids][: len(neg_set)]
    roles = [(x, True) for x in pos] + [(x, False) for x in neg_set]
    rank = {id(x): i for i, x in enumerate(items)}
    roles.sort(key=lambda r: (rank[id(r[0])], not r[1]))
    return roles


class _Maker:
    """Formats prompts and builds :class:`Question` records for one case."""

    def __init__(self, dataset: Dataset, task: str, facet: str, qtype: str, tset: TemplateSet):
        self.dataset = dataset.name
        self.task, self.facet, self.qtype = task, facet, qtype
        self.templates = tset.for_type(qtype)
        self.ids = [tset.template_id(qtype, i) for i in range(len(self.templates))]
        self.lettered = tset.lettered and qtype == "mc"
        self.word = level_word(facet)
        self.levels = (
            LEVEL_PLURALS.get(self.word, self.word) if tset.name == "original" else self.word
        )
        self.n = len(self.templates)

    def make(
        self,
        sample: Sample,
        noun: str,
        truth: str,
        rng: random.Random,
        *,
        name: str = "",
        options: tuple[str, ...] = (),
        accepted: tuple[str, ...] = (),
    ) -> Question:
        t = rng.randrange(self.n)
        prompt = self.templates[t].format(
            level=self.word,
            levels=self.levels,
            noun=noun,
            name=name,
            options=format_options(options, self.lettered) if options else "",
        )
        tid = self.ids[t]
        qid = question_id(
            self.dataset, sample.path, self.task, self.facet, self.qtype, truth, name, tid
        )
        return Question(
            qid,
            self.dataset,
            sample.path,
            prompt,
            self.qtype,
            self.task,
            self.facet,
            sample.category_name,
            truth,
            tid,
            options,
            self.lettered,
            name,
            accepted,
            sample.id,
        )


def _mc_options(truth: str, distractors: list[str], rng: random.Random) -> tuple[str, ...]:
    opts = [truth, *distractors]
    rng.shuffle(opts)
    return tuple(opts)


def granularity(
    dataset: Dataset,
    samples: Sequence[Sample],
    level: str,
    qtype: str,
    tset: TemplateSet,
    rng: random.Random,
) -> list[Question]:
    """Questions at one taxonomy level: true/false, multiple-choice, or short answer."""
    levels = dataset_levels(dataset)
    li = levels.index(level)
    if qtype == "sa" and li != len(levels) - 1:
        raise ConfigError(
            f"short-answer questions ask for the finest level ({levels[-1]}), not {level!r}"
        )
    pools = LevelPools.build(dataset, li)
    if not pools.usable():
        raise ConfigError(
            f"dataset {dataset.name!r} has fewer than two names at level {level!r} and no "
            "built-in sibling list covers it: no question can be asked there"
        )
    maker = _Maker(dataset, "granularity", level, qtype, tset)
    nouns: dict[tuple[str, ...], str] = {}
    items = [(s, sample_path(dataset, s)) for s in _sorted_samples(samples)]
    items = [(s, p) for s, p in items if p[li]]

    def noun(path: tuple[str, ...]) -> str:
        key = path[:li]
        got = nouns.get(key)
        if got is None:
            got = nouns[key] = noun_for(dataset.name, dataset.meta_category, level, path, levels)
        return got

    out: list[Question] = []
    if qtype == "tf":
        for (s, p), positive in balanced_roles(items, lambda it: bool(pools.pools(it[1])), rng):
            name = p[li] if positive else draw(pools.pools(p), 1, rng)[0]
            out.append(maker.make(s, noun(p), "yes" if positive else "no", rng, name=name))
    elif qtype == "mc":
        for s, p in items:
            opts = _mc_options(p[li], draw(pools.pools(p), MC_OPTIONS - 1, rng), rng)
            out.append(maker.make(s, noun(p), p[li], rng, options=opts))
    else:
        cats = dataset.categories
        for s, p in items:
            syn = cats[s.category].synonyms if 0 <= s.category < len(cats) else ()
            out.append(maker.make(s, noun(p), p[li], rng, accepted=tuple(syn)))
    return out


def knowledge_bias(
    dataset: Dataset, samples: Sequence[Sample], tset: TemplateSet, rng: random.Random
) -> list[Question]:
    """For every image one positive (its category) and one negative (a sibling category)."""
    levels = dataset_levels(dataset)
    li = len(levels) - 1
    pools = LevelPools.build(dataset, li)
    if len(pools.names) < 2:
        raise ConfigError(
            f"dataset {dataset.name!r} has fewer than two categories: no knowledge-bias question"
        )
    maker = _Maker(dataset, "knowledge_bias", levels[-1], "tf", tset)
    out: list[Question] = []
    for s in _sorted_samples(samples):
        p = sample_path(dataset, s)
        cands = pools.pools(p)
        if not p[li] or not cands:
            continue
        noun = noun_for(dataset.name, dataset.meta_category, levels[-1], p, levels)
        out.append(maker.make(s, noun, "yes", rng, name=p[li]))
        out.append(maker.make(s, noun, "no", rng, name=draw(cands, 1, rng)[0]))
    return out


def attribute(
    dataset: Dataset,
    samples: Sequence[Sample],
    group: str,
    qtype: str,
    tset: TemplateSet,
    rng: random.Random,
    *,
    min_certainty: int = CERTAINTY_PROBABLY,
    mc_options: int | None = MC_OPTIONS,
) -> list[Question]:
    """True/false or multiple-choice questions about one attribute group.

    Asked of each image with a value of ``group`` annotated at least ``min_certainty``.
    Negatives and distractors are values the image has at no certainty at all. MC options
    are ``mc_options`` (truth + distractors, default 4), or every value of the group the
    image does not also hold when ``mc_options`` is ``None`` (the paper's "all candidates").
    """
    g = dataset.attribute_group(group)
    noun = attribute_noun(dataset.name, dataset.meta_category)
    maker = _Maker(dataset, "attribute", group, qtype, tset)
    rows = []
    for s in _sorted_samples(samples):
        held = [a.value for a in s.annotations if a.group == group]
        asked = sorted(
            {a.value for a in s.annotations if a.group == group and a.certainty >= min_certainty}
        )
        if not asked:
            continue
        others = [v for v in g.values if not any(clashes(v, h) for h in held)]
        rows.append((s, asked, others))
    out: list[Question] = []
    if qtype == "tf":
        for (s, asked, others), positive in balanced_roles(rows, lambda r: bool(r[2]), rng):
            if positive:
                out.append(maker.make(s, noun, "yes", rng, name=rng.choice(asked)))
            else:
                out.append(maker.make(s, noun, "no", rng, name=rng.choice(others)))
        return out
    for s, asked, others in rows:
        if not others:
            continue
        truth = rng.choice(asked)
        k = len(others) if mc_options is None else min(mc_options - 1, len(others))
        out.append(
            maker.make(s, noun, truth, rng, options=_mc_options(truth, rng.sample(others, k), rng))
        )
    return out
