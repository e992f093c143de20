"""What the user reads: the summary table at 100 columns, improvements, a regression's
message (the drop, the flipped questions in full, the command accepting the new baseline of
that case alone), what a differing fingerprint names, a first run without baselines, and a
broken answer cache reported once."""

from __future__ import annotations

import shlex
import sqlite3
from pathlib import Path

import pytest

from pytest_fgbmk.baselines.gate import BaselineGate, Entry
from pytest_fgbmk.baselines.record import ASKED_KEYS, build_record, dump_record
from pytest_fgbmk.baselines.store import keyword_for, scoped_update_command
from pytest_fgbmk.measurement import Asked, Measurement, Outcome
from pytest_fgbmk.report.terminal import (
    SummaryRow,
    format_improvements,
    format_mismatched,
    format_table,
)

HUMAN = ("-m", "fgbmk_human", "--fgbmk-no-cache")
FLIP = ("--fgbmk-model=tests.fake_models:flip", "--fgbmk-model-arg", "flip=0.2")
WORSE = (*FLIP, "--fgbmk-model-arg", "facet=wing color", "--fgbmk-model-arg", "facet_flip=1")
ALIAS = Path("baselines") / "tests.fake_models-flip"
#: SQLite's default page size, bytes.
PAGE = 4096
WING = "test_attribute[synth_birds-wing_color-{}]"


def _row(dataset, task, facet, qtype, value, **props) -> SummaryRow:
    base = {"metric": "accuracy", "value": f"{value:.2f}", "n": "500", "dataset": dataset}
    return SummaryRow.from_properties(
        {**base, "task": task, "facet": facet, "qtype": qtype, **props}, "passed"
    )


ROWS = [
    _row(
        "stanford_cars_2024_refresh",
        "feature_robustness",
        "make",
        "",
        61.25,
        baseline="62.50",
        delta="-1.25",
        mdd="4.8",
    ),  # fmt: skip
    _row(
        "cub_200_2011",
        "attribute",
        "upper tail color pattern",
        "mc",
        70.0,
        baseline="70.00",
        delta="+0.00",
        mdd="inf",
    ),  # fmt: skip
    _row(
        "cub_200_2011",
        "knowledge_bias",
        "species",
        "tf",
        93.4,
        baseline="88.00",
        delta="+5.40",
        mdd="2.1",
        gate_note="+5.4 pts, p=0.00012: consider updating the baseline",
        baseline_file="baselines/m/test_knowledge_bias/test_knowledge_bias[cub_200_2011].json",
    ),
]


def test_the_summary_fits_100_columns_clipping_long_names_and_shows_baseline_delta_mdd():
    assert format_table(ROWS) == [
        "dataset         task               facet          type metric   value baseline     Δ  mdd   n result",
        "--------------- ------------------ -------------- ---- -------- ----- -------- ----- ---- --- ------",
        "cub_200_2011    attribute          upper tail co… mc   accuracy  70.0     70.0  +0.0  inf 500 passed",
        "cub_200_2011    knowledge_bias     species        tf   accuracy  93.4     88.0  +5.4  2.1 500 passed",
        "",
        "stanford_cars_… feature_robustness make                accuracy  61.2     62.5  -1.2  4.8 500 passed",
    ]  # fmt: skip


def test_every_optional_column_at_once_still_fits_100_columns():
    """A judged run (--fgbmk-judge) of an endpoint that left answers unparsed, refused and
    erred, with machine cases (an 18-letter task) and 6-digit n: 121 columns before; now
    short headers for those columns (the % moves into the header), then the task clipped
    to ten letters, then the other names narrower."""
    busy = _row(
        "a_very_long_dataset_name_2024",
        "attribute",
        "an extremely long attribute group",
        "mc",
        100.0,
        n="100000",
        baseline="100.00",
        delta="-100.00",
        mdd="inf",
        unparsed_rate="12.5",
        judged_rate="10.0",
        refusal_rate="5.0",
        errors="3",
    )
    machine = _row(
        "inat2021", "feature_robustness", "species", "", 100.0, n="500000", baseline="100.00",
        delta="-100.00", mdd="100.0", metric="top1",
    )  # fmt: skip
    lines = format_table([busy, machine])
    assert lines == [
        "dataset  task       facet    type metric   value  base      Δ   mdd      n unp% jdg% ref% err result",
        "-------- ---------- -------- ---- -------- ----- ----- ------ ----- ------ ---- ---- ---- --- ------",
        "a_very_… attribute  an extr… mc   accuracy 100.0 100.0 -100.0   inf 100000 12.5 10.0  5.0   3 passed",
        "",
        "inat2021 feature_r… species       top1     100.0 100.0 -100.0 100.0 500000  0.0    -  0.0   0 passed",
    ]  # fmt: skip
    # the usual table keeps its full headers and task names
    usual = format_table(ROWS)
    assert " baseline " in usual[0] and usual[-1].startswith("stanford_cars_… feature_robustness")


def test_the_mdd_column_appears_only_when_the_gate_states_one():
    plain = [_row("cub", "attribute", "wing color", "tf", 62.5, baseline="75.00", delta="-12.50")]
    assert format_table(plain) == [
        "dataset  task       facet       type  metric    value baseline     Δ   n  result",
        "-------  ---------  ----------  ----  --------  ----- -------- ----- ---  ------",
        "cub      attribute  wing color  tf    accuracy   62.5     75.0 -12.5 500  passed",
    ]


def test_significant_improvements_are_listed_with_delta_p_and_the_command_accepting_them():
    command = scoped_update_command(
        "pytest suites -k cub --fgbmk-update-baselines",
        [
            keyword_for(
                Path("baselines/m/test_knowledge_bias/test_knowledge_bias[cub_200_2011].json")
            )
        ],
    )
    assert format_improvements(ROWS, command) == [
        "fgbmk: 1 case(s) improved significantly; consider updating their baselines:",
        "  test_knowledge_bias[cub_200_2011]   88.0 →  93.4  +5.4 pts, p=0.00012",
        "accept them, after review, with:",
        "  pytest suites -k 'test_knowledge_bias[cub_200_2011]' --fgbmk-update-baselines",
    ]
    assert format_improvements(ROWS[:2], command) == []


ASKED = Asked("toy", "abc123", "original", "strict", None, 0)
PATH = Path("baselines/m/test_attribute/test_attribute[toy-a-tf].json")


def _measure(correct, prompts, asked=ASKED) -> Measurement:
    outcomes = tuple(
        Outcome(f"q{i}", c, "yes" if c else "No, it is a\nblue finch.", "tf", p, "finch")
        for i, (c, p) in enumerate(zip(correct, prompts, strict=True))
    )
    n = len(correct)
    value = 100.0 * sum(correct) / n
    return Measurement(
        "toy-a-tf", "toy", "attribute", "a", "tf", "accuracy", value, n, value - 5, value + 5,
        0.0, 0, outcomes, asked, {},
    )  # fmt: skip


def test_a_regression_names_the_drop_and_shows_multi_line_prompts_whole_and_indented():
    prompt = (
        "Look at the bird in the image.\n\nIs it a red finch? " + "x" * 90 + "\nAnswer yes or no."
    )
    prompts = [prompt] + [f"Is it {i}?" for i in range(1, 20)]
    base = _measure([True] * 20, prompts)
    now = _measure([False] * 12 + [True] * 8, prompts)
    gate = BaselineGate(update_command="pytest suites -k wing --fgbmk-update-baselines")
    v = gate.verdict(Entry("toy-a-tf", now, PATH, dump_record(build_record(base))))
    lines = v.message.splitlines()
    assert lines[0] == (
        "toy-a-tf: accuracy dropped significantly (Bonferroni over 1 cases threshold p <= 0.01, "
        "margin 1 pt): 60.0 points, 100.0 → 40.0 (p=0.00024, n=20)"
    )
    assert lines[3:13] == [
        "right → wrong: 12 questions (first 5):",
        "  q0 (category finch)",
        "    prompt: Look at the bird in the image.",
        "",
        "            Is it a red finch? " + "x" * 90,
        "            Answer yes or no.",
        "    answer: No, it is a",
        "            blue finch.",
        "  q1 (category finch)",
        "    prompt: Is it 1?",
    ]
    assert lines[-3:] == [
        f"baseline: {PATH}",
        "If the drop is intended, accept the new value as this case's baseline with:",
        "  pytest suites -k 'test_attribute[toy-a-tf]' --fgbmk-update-baselines",
    ]


def test_a_differing_fingerprint_names_each_setting_that_differs():
    changed = {
        "dataset": "other",
        "dataset_hash": "def456",
        "templates": "extended",
        "scoring": "official",
        "limit": 20,
        "seed": 3,
        "exif_orientation": "ignore",
        "model_settings": "dtype=fp32;max_new_tokens=8",
    }
    assert set(changed) == set(ASKED_KEYS)  # a new fingerprint key needs a line here
    shown = {
        "dataset_hash": "dataset index: abc123 → def456",
        "limit": "limit: none → 20",
        "exif_orientation": "EXIF orientation: apply → ignore",
        "model_settings": "model settings: dtype: none → fp32; max_new_tokens: none → 8",
    }
    gate = BaselineGate(update_command="pytest suites --fgbmk-update-baselines")
    base = dump_record(build_record(_measure([True] * 4, ["p"] * 4)))
    for key, value in changed.items():
        asked = Asked(**{**ASKED.as_dict(), key: value})
        v = gate.verdict(Entry("toy-a-tf", _measure([True] * 4, ["p"] * 4, asked), PATH, base))
        what = shown.get(key, f"{key}: {getattr(ASKED, key)} → {value}")
        assert dict(v.properties)["fingerprint_differs"] == what, key
        # one line per case; the command is printed once, in the summary
        assert "\n" not in v.message
        assert v.message.endswith("rerun with the baseline's settings, or see the FG-BMK summary")
    # a machine case's protocol: the part that differs, whole (not two clipped prefixes)
    probe = "probe:lrs=0.001,0.01,0.1;ep=10;bs=256;wd=(0.0,);val=0.1;seed=0;steps=200"
    old = Asked("toy", "abc123", "-", probe, None, 0)
    new = Asked("toy", "abc123", "-", probe.replace("ep=10", "ep=20"), None, 0)
    base = dump_record(build_record(_measure([True] * 4, ["p"] * 4, old)))
    v = gate.verdict(Entry("toy-a-tf", _measure([True] * 4, ["p"] * 4, new), PATH, base))
    assert dict(v.properties)["fingerprint_differs"] == "protocol: ep=10 → ep=20"


def _baselines(pytester) -> dict[str, str]:
    folder = pytester.path / ALIAS
    return {str(p.relative_to(folder)): p.read_text() for p in sorted(folder.rglob("*.json"))}


def test_the_command_in_a_regression_rewrites_exactly_that_cases_baseline(run, pytester):
    run(*HUMAN, *FLIP, "--fgbmk-update-baselines").assert_outcomes(passed=48)
    before = _baselines(pytester)
    worse = run(*HUMAN, *WORSE, "-k", "wing_color or bill_shape")
    worse.assert_outcomes(passed=2, failed=2)
    out = worse.stdout.lines
    first = next(i for i, line in enumerate(out) if line.startswith("synth_birds-wing_color-tf:"))
    assert out[first].startswith(
        "synth_birds-wing_color-tf: accuracy dropped significantly (run-level threshold p <= "
    )
    assert " points, 91.7 → " in out[first] or " points, 83.3 → " in out[first]
    shown = out[first : out.index(f"baseline: {ALIAS / 'test_attribute_recognition'}"
                                  f"/{WING.format('tf')}.json", first)]  # fmt: skip
    assert "    answer: I cannot tell" in shown
    prompts = [line for line in shown if line.startswith("    prompt: ")]
    assert prompts and all("wing color" in p for p in prompts)
    assert not any("…" in line for line in shown)  # nothing clipped
    command = out[out.index("If the drop is intended, accept the new value as this case's "
                            "baseline with:", first) + 1].strip()  # fmt: skip
    args = shlex.split(command)
    assert args[0] == "pytest" and args[-1] == "--fgbmk-update-baselines"
    assert args[args.index("-k") + 1] == WING.format("tf") and args.count("-k") == 1

    run_again = pytester.runpytest(*args[1:])  # the command as printed
    run_again.assert_outcomes(passed=1)
    after = _baselines(pytester)
    changed = sorted(k for k in before if before[k] != after[k])
    assert changed == [f"test_attribute_recognition/{WING.format('tf')}.json"]
    again = run(*HUMAN, *WORSE, "-k", "wing_color")
    again.assert_outcomes(passed=1, failed=1)  # the accepted case passes, the other still fails
    again.stdout.fnmatch_lines([f"FAILED *{WING.format('mc')}*"])


def test_a_better_model_is_listed_in_the_summary_with_the_command(run, pytester):
    run(*HUMAN, *FLIP, "--fgbmk-update-baselines", "-k", "knowledge_bias")
    better = run(*HUMAN, "--fgbmk-model=tests.fake_models:flip", "--fgbmk-baseline-alias",
                 "tests.fake_models-flip", "--fgbmk-alpha=0.05", "-k", "knowledge_bias")  # fmt: skip
    better.assert_outcomes(passed=2)
    out = better.stdout.lines
    at = out.index("fgbmk: 1 case(s) improved significantly; consider updating their baselines:")
    assert out[at + 1].startswith("  test_knowledge_bias[synth_birds]  ")
    assert " → 100.0  +" in out[at + 1] and " pts, p=" in out[at + 1]
    assert out[at + 2] == "accept them, after review, with:"
    assert out[at + 3].startswith("  pytest ") and "--fgbmk-alpha=0.05" in out[at + 3]
    assert out[at + 3].endswith("-k 'test_knowledge_bias[synth_birds]' --fgbmk-update-baselines")


def test_a_first_run_without_baselines_says_once_how_to_write_them(run, pytester):
    result = run(*HUMAN, *FLIP, "-k", "synth_birds and (wing_color or species)")
    result.assert_outcomes(failed=5)
    text = result.stdout.str()
    command = next(line for line in result.stdout.lines if line.startswith("  pytest "))
    assert command.endswith("--fgbmk-update-baselines") and text.count(command) == 1
    # each case's failure is one line (between pytest's own headers)
    # the FAILURES section: up to the next section header (warnings, the FG-BMK summary …)
    after = text.split("= FAILURES =")[1].splitlines()[1:]
    failures = after[: next(i for i, line in enumerate(after) if line.startswith("="))]
    assert [line for line in failures if not line.startswith("_")] == [
        f"synth_birds-{case}: no baseline yet (accuracy {value}%, n=12): write it with the "
        "command in the FG-BMK summary"
        for case, value in (
            ("wing_color-tf", "91.7"),
            ("wing_color-mc", "66.7"),
            ("species-tf", "83.3"),
            ("species-mc", "100.0"),
            ("species-sa", "75.0"),
        )
    ]
    at = result.stdout.lines.index(
        "fgbmk: no baseline yet for any case (in baselines/tests.fake_models-flip/)."
    )
    assert result.stdout.lines[at + 1 : at + 3] == [
        "If the figures above are what this checkpoint should keep, write them with:",
        command,
    ]


def _damage_pages(path: Path) -> None:
    """Overwrite the start of every page after the header page with 0xff: the header stays
    intact (SQLite opens the file), the tables' pages are damaged (a query fails)."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # every answer in the file itself
    conn.close()
    data = bytearray(path.read_bytes())
    assert len(data) >= 3 * PAGE  # the answers fill pages beyond the header's
    for start in range(PAGE, len(data), PAGE):
        data[start : start + 64] = b"\xff" * 64
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "damage, reason",
    [
        ("not sqlite", "file is not a database"),
        ("empty", "the file is empty (0 bytes): a copy cut short, or not written by this tool"),
        ("damaged pages", "database disk image is malformed"),
    ],
)
def test_a_broken_answer_cache_is_one_run_error_not_one_per_test(run, pytester, damage, reason):
    cache = pytester.path / "cache"
    path = cache / "answers.sqlite3"
    args = ("-m", "fgbmk_human", *FLIP, f"--fgbmk-cache={cache}", "-k", "synth_birds")
    if damage == "damaged pages":  # a cache the run wrote, then damaged behind its intact header
        run(*args).assert_outcomes(failed=24)
        _damage_pages(path)
    else:
        cache.mkdir()
        path.write_bytes(b"not a database" * 100 if damage == "not sqlite" else b"")
    result = run(*args)
    result.assert_outcomes(errors=24)
    assert result.ret == 1
    text = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in text and "INTERNALERROR" not in text
    full = (
        f"--fgbmk-cache: {path} is damaged ({reason}), so it is not a usable answer cache; "
        "delete the file (the answers are asked again on the next run) or pass --fgbmk-no-cache"
    )
    assert text.count(full) == 1
    at = next(
        i
        for i, x in enumerate(result.stdout.lines)
        if x.startswith("=") and " FG-BMK run errors " in x
    )
    assert result.stdout.lines[at + 1] == f"24 cases not measured: {full}"
    result.stdout.fnmatch_lines(
        [
            "FG-BMK synth_birds-wing_color-tf: not measured: --fgbmk-cache: *… (a run error "
            "that stopped 24 cases, shown in full once under 'FG-BMK run errors')"
        ]
    )
    if damage == "damaged pages":  # deleting the file, as the message says, recovers
        path.unlink()
        run(*args).assert_outcomes(failed=24)  # measured (no baselines here: each fails)


def test_cases_that_cannot_be_compared_get_one_instruction_with_their_reasons_counted():
    rows = [
        _row("cub", "attribute", f"g{i}", "tf", 50.0, fingerprint_differs="limit: none → 8")
        for i in range(47)
    ] + [_row("cub", "granularity", "species", "sa", 50.0, fingerprint_differs="seed: 0 → 1")]
    assert format_mismatched(rows, "pytest suites --fgbmk-limit 8 --fgbmk-update-baselines") == [
        "fgbmk: 48 case(s) cannot be compared with their baselines:",
        "  47 × limit: none → 8",
        "  1 × seed: 0 → 1",
        "Rerun with the baselines' settings; or, if the change is intended, rewrite them after "
        "review with:",
        "  pytest suites --fgbmk-limit 8 --fgbmk-update-baselines",
        "  (that overwrites them; to keep them and also check at this --fgbmk-limit, add",
        "  --fgbmk-baseline-alias NAME to both commands)",
    ]
    assert all(len(line) <= 100 for line in format_mismatched(rows, "x"))
    tool = [_row("cub", "attribute", "g", "tf", 50.0, rebaseline="answer scoring changed (1 → 2)")]
    lines = format_mismatched(tool, "pytest suites --fgbmk-update-baselines")
    assert lines[1] == "  1 × answer scoring changed (1 → 2)"
    assert lines[2].startswith("This version measures those cases differently")
    assert format_mismatched(ROWS, "x") == []


def test_pytest_help_lists_every_option_and_exits_cleanly(pytester):
    """argparse formats help strings with %: a bare '%' in one (e.g. '90% power') made
    ``pytest --help`` crash with a traceback in every project where the plugin is installed."""
    from pytest_fgbmk.pytest_plugin.options import OPTIONS

    result = pytester.runpytest_subprocess("--help")
    assert result.ret == 0, result.stderr.str()
    text = result.stdout.str()
    assert "Traceback (most recent call last)" not in text + result.stderr.str()
    for flag, *_ in OPTIONS:
        assert flag in text, flag


def test_a_stopped_case_refers_to_its_error_cut_at_a_word_never_inside_an_aside():
    from pytest_fgbmk.pytest_plugin.hooks import _shortened

    assert _shortened("short enough") == "short enough"
    text = "5 of 24 images the selected cases need cannot be used (2 missing, 3 truncated)"
    assert _shortened(text) == "5 of 24 images the selected cases need cannot be used…"
    long_word = "--fgbmk-model=tests.fake_models:unloadable: no checkpoint at /nonexistent/ckpt"
    cut = _shortened(long_word)
    assert len(cut) <= 60 and cut.endswith("…") and long_word.startswith(cut[:-1])
