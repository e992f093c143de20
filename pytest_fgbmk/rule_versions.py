"""Versions of the rules that decide a case's numbers, recorded in every baseline.

A baseline is only comparable with a run that asked the same questions, read the answers
the same way and loaded the images the same way. The user's settings (templates, scoring
mode, limit, seed, dataset index) are compared as the fingerprint; the rules of this tool
are versioned here. Bump a version in the same commit that changes what the rule
produces; a baseline recorded under another version then fails with
``re-baseline: <rule> changed`` and the command that rewrites it, never a silent
comparison of unlike numbers. Tests pin each rule's output under its current version
(``tests/test_rule_versions.py``, ``tests/questions/test_questions_generate.py``), so a
change that forgets the bump fails there.
"""

from __future__ import annotations

from collections.abc import Mapping

#: Question generation: which questions a case asks, their wording, options, truth and
#: the right option's position (2: truth positions uniform over the options; 3: the
#: dataset's synonyms of each multiple-choice option, ``Question.option_synonyms``, and the
#: loaders' synonyms checked for clashes, so what counts as right may differ; 4: the
#: release's "which of the following …" word per dataset and level — CUB "classes", iNat2021
#: and every dataset but CUB the level itself where 3 wrote "genera" — and CUB's class-level
#: built-in names as the release's: no "actinopterygii", MC options without "chondrichthyes").
QUESTIONS = "4"
#: The ``--fgbmk-limit`` subset (2: balanced answer kinds, truth positions and categories;
#: knowledge-bias pairs kept together).
SUBSET = "2"
#: Reading a model's answer into right or wrong (``scoring.py``, both modes; 2: refusals,
#: hedges, final answers, implicit answers, plural/spacing variants; 3: another species
#: named in a true/false answer is a no, yes/no and refusals in more languages, ordinal and
#: lowercase option letters, options named by most of their words, options weighed or
#: described are not chosen, diacritics ignored; 4: an implicit yes that offers the asked
#: name among others is a hedge, definitions and reordered or derived names, another model
#: number, concluding "So B."/"…is C."/"B (aside)" letters, Japanese/Korean markers, JSON
#: answers, one-letter slips in long words, "St."/"Mt.", options worded like refusals).
SCORING = "4"
#: Decoding an image file into the RGB pixels a model sees (``data/images.py``; 2: EXIF
#: orientation applied, as transformers' ``load_image`` does, unless
#: ``--fgbmk-exif-orientation=ignore``, which the baseline records beside this version).
IMAGES = "2"
#: The linear probe: its grid, validation split and head selection (``machine/probe.py``;
#: 2: a validation split under 500 samples gives way to 5-fold cross-validation on train and a
#: refit of the chosen setting on all of train; ties go to the smaller step, then the larger
#: weight decay, instead of the lower validation loss).
PROBE = "2"
#: The feature-space attack of the robustness cases (``machine/robustness.py``; 2: a
#: targeted-margin PGD run toward each sample's nearest class beside the untargeted one,
#: and perturbations inside their ball exactly; baselines before it recorded no version).
ROBUSTNESS = "2"

#: An encoder's image preprocessing: resize, crop and normalisation of the pixels its
#: features are computed from (``models/encoders.py`` ``ImageTransform``; 1: first recorded).
FEATURES = "1"
#: Retrieval's figures from features: cosine similarity, mAP over the whole gallery with
#: ties, recall@k (``machine/retrieval.py``; 1: first recorded).
RETRIEVAL = "1"

#: What each rule decides, as a re-baseline message names it.
DESCRIBED = {
    "questions": "question generation (which questions, their wording, options, truth positions)",
    "subset": "the --fgbmk-limit subset rule",
    "scoring": "answer scoring",
    "images": "image loading",
    "probe": "the linear probe's grid and head selection",
    "robustness": "the feature-space PGD attack",
    "features": "encoder image preprocessing (resize, crop, normalisation)",
    "retrieval": "retrieval mAP and recall@k",
}

_CURRENT = {
    "questions": QUESTIONS,
    "subset": SUBSET,
    "scoring": SCORING,
    "images": IMAGES,
    "probe": PROBE,
    "robustness": ROBUSTNESS,
    "features": FEATURES,
    "retrieval": RETRIEVAL,
}


def rules(*names: str) -> str:
    """``"questions=2;scoring=1"``: the current versions of the named rules, as recorded.

    Raises :class:`KeyError` for a name that is not a rule.
    """
    return ";".join(f"{n}={_CURRENT[n]}" for n in names)


def current() -> str:
    """Every rule's current version (``"questions=4;subset=2;…"``), as a run's report records
    it (two runs under other rules differ by more than run-to-run noise)."""
    return rules(*_CURRENT)


def parse(text: str) -> dict[str, str]:
    """The inverse of :func:`rules` (an empty text: no rule recorded)."""
    out = {}
    for part in filter(None, text.split(";")):
        name, _, version = part.partition("=")
        out[name] = version
    return out


def changed(before: str, now: str) -> list[str]:
    """What differs between two recorded rule sets, one phrase per rule, in ``now``'s order:
    ``"answer scoring changed (version 1 → 2)"``."""
    a: Mapping[str, str] = parse(before)
    b: Mapping[str, str] = parse(now)
    out = []
    for name in [*b, *(n for n in a if n not in b)]:
        if a.get(name) != b.get(name):
            what = DESCRIBED.get(name, name)
            out.append(f"{what} changed (version {a.get(name, 'none')} → {b.get(name, 'none')})")
    return out
