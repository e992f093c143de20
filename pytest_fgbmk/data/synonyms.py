"""Keeping a dataset's synonyms unambiguous: one that could name another category is dropped.

A synonym (:attr:`Category.synonyms`, :attr:`Category.taxonomy_synonyms`) makes an answer
that names it count as naming its category. So at each taxonomy level a synonym is kept
only when it does not *clash* (:func:`pytest_fgbmk.text.clashes`: equal after
normalisation, or one holding the other as whole words) with the name or any synonym of
another entry at that level: "Mallard" as the common name of one species and "Mexican
Mallard" of another would make an answer naming either right for both. Every clashing
synonym is dropped (both of a clashing pair), and the loader reports the count with an
example in :attr:`Dataset.skipped`. A synonym repeated (after normalisation) is kept once.

Cost: linear in the number of names times the square of their word counts (every
contiguous run of words of every name is indexed): 10,000 species with a common name each
take about 0.25 s, where a direct pairwise comparison would make 10⁸ tests.
"""

from __future__ import annotations

from collections.abc import Sequence

from pytest_fgbmk.data.records import Category
from pytest_fgbmk.text import normalize


def _runs(phrase: str) -> set[str]:
    """Every contiguous run of whole words of a normalised phrase (the phrase included)."""
    words = phrase.split()
    return {" ".join(words[i:j]) for i in range(len(words)) for j in range(i + 1, len(words) + 1)}


def _check_level(
    names: dict[str, list[str]],
) -> tuple[dict[str, tuple[str, ...]], list[tuple[str, str, str]]]:
    """(entry name → synonyms kept, [(synonym, its entry, the other entry it clashes with)])."""
    whole: dict[str, set[str]] = {}  # normalised name or synonym → entries it belongs to
    within: dict[str, set[str]] = {}  # every run of words of those → entries holding it
    for name, syns in names.items():
        for text in (name, *syns):
            phrase = normalize(text)
            if not phrase:
                continue
            whole.setdefault(phrase, set()).add(name)
            for run in _runs(phrase):
                within.setdefault(run, set()).add(name)
    kept: dict[str, tuple[str, ...]] = {}
    dropped: list[tuple[str, str, str]] = []
    for name, syns in names.items():
        out: list[str] = []
        seen: set[str] = set()
        for s in syns:
            phrase = normalize(s)
            if not phrase or phrase in seen:
                continue
            others = within.get(phrase, set()) - {name}
            for run in _runs(phrase):
                others |= whole.get(run, set()) - {name}
            if others:
                dropped.append((s, name, min(others)))
                continue
            seen.add(phrase)
            out.append(s)
        kept[name] = tuple(out)
    return kept, dropped


def checked_synonyms(
    categories: Sequence[Category], levels: Sequence[str]
) -> tuple[tuple[Category, ...], tuple[str, ...]]:
    """The categories with every clashing synonym dropped, and one reason per level that lost
    some (for :attr:`Dataset.skipped`): ``"2 synonym(s) at level 'species' dropped: each
    clashes with the name or a synonym of another species (e.g. 'Mallard' of 'Anas
    platyrhynchos' with 'Anas diazi')"``.

    ``levels`` names the taxonomy levels (coarse → fine) for the reasons. Categories without
    synonyms come back unchanged (the same objects).
    """
    depth = max((len(c.taxonomy) for c in categories), default=0)
    kept_at: list[dict[str, tuple[str, ...]]] = []
    reasons: list[str] = []
    for level in range(depth):
        names: dict[str, list[str]] = {}
        for c in categories:
            if level < len(c.taxonomy):
                syns = names.setdefault(c.taxonomy[level], [])
                syns.extend(s for s in c.synonyms_at(level) if s not in syns)
        if not any(names.values()):
            kept_at.append({})
            continue
        kept, dropped = _check_level(names)
        kept_at.append(kept)
        if dropped:
            word = levels[level] if level < len(levels) else f"level {level}"
            s, name, other = dropped[0]
            reasons.append(
                f"{len(dropped)} synonym(s) at level {word!r} dropped: each clashes with the "
                f"name or a synonym of another {word} (e.g. {s!r} of {name!r} with {other!r})"
            )
    out = []
    for c in categories:
        if not c.synonyms and not c.taxonomy_synonyms:
            out.append(c)
            continue
        last = len(c.taxonomy) - 1
        finest = kept_at[last].get(c.taxonomy[last], ()) if last >= 0 else ()
        coarser = tuple(kept_at[i].get(c.taxonomy[i], ()) for i in range(last))
        out.append(
            Category(
                c.index,
                c.name,
                c.taxonomy,
                finest,
                coarser if any(coarser) else (),
            )
        )
    return tuple(out), tuple(reasons)
