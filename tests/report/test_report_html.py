"""report.html from constructed runs: sections, figures written beside it, escaping,
the baseline's flipped questions, and the `fgbmk report` / `fgbmk datasets` commands."""

from __future__ import annotations

import base64
import re
from html.parser import HTMLParser

import pytest
from PIL import Image
from report_fixtures import FIGURE_IDS, SECTIONS, XSS, baseline_run, case, full_run, write_run

from pytest_fgbmk.cli import main
from pytest_fgbmk.report.html import attribute_group, build_report


class Tags(HTMLParser):
    """Every start tag with its attributes, and the page's text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def parse(html: str) -> Tags:
    p = Tags()
    p.feed(html)
    return p


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("report")
    path = full_run(tmp_path / "run")
    base = baseline_run(tmp_path / "base")
    html_path = build_report(path, baseline=base)
    return html_path, html_path.read_text()


def test_every_section_and_figure_is_in_the_page(report):
    path, html = report
    tags = parse(html).tags
    ids = {a.get("id") for _, a in tags}
    for anchor in SECTIONS:
        assert anchor in ids, anchor
    for fid in FIGURE_IDS:
        assert f"fig-{fid}" in ids, fid
        assert (path.parent / "figures" / f"{fid}.png").is_file()
        assert (path.parent / "figures" / f"{fid}.svg").read_text().lstrip().startswith("<?xml")
    imgs = [a["src"] for t, a in tags if t == "img"]
    assert imgs and all(src.startswith("data:image/") for src in imgs)
    first = next(s for s in imgs if s.startswith("data:image/png"))
    png = Image.open(__import__("io").BytesIO(base64.b64decode(first.split(",", 1)[1])))
    assert png.size[0] > 300
    # the baseline section comes first, before the paper's views
    order = [a.get("id") for _, a in tags if a.get("id") in SECTIONS]
    assert order[0] == "baseline"


def test_the_page_loads_nothing_from_outside(report):
    _, html = report
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    for tag, attrs in parse(html).tags:
        assert tag not in ("script", "link", "iframe", "object", "embed"), tag
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)
            if name in ("src", "href") and value:
                assert value.startswith(("data:", "#")), value


def test_model_output_is_escaped(report):
    _, html = report
    assert XSS not in html
    assert "&lt;script&gt;document.title=&#x27;pwned&#x27;&lt;/script&gt;" in html
    tags = parse(html)
    assert not any(t == "img" and a.get("src") == "x" for t, a in tags.tags)
    assert XSS in "".join(tags.text)  # shown to the reader as text
    assert "Is this a &lt;b&gt;red finch&lt;/b&gt;?" in html


def test_regressed_case_shows_its_flipped_question(report):
    _, html = report
    section = html[html.index('id="baseline"') : html.index('id="granularity"')]
    assert 'id="reg-synth_birds-species-tf"' in section
    assert "1 question(s) flipped right → wrong, 0 wrong → right." in section
    assert "q-flip" in section and "q-wrong" not in section and "q-right" not in section
    assert "data:image/jpeg;base64," in section  # the stored thumbnail
    assert "baseline 90.0" in section and "Δ -20.0" in section and "p = 0.001" in section


def test_attribute_table_groups_and_means(report):
    _, html = report
    table = html[html.index('id="attributes"') :]
    table = table[: table.index("</section>")]
    rows = re.findall(r"<tr(?: class=\"mean\")?><td>([^<]*)</td><td>([^<]*)</td>(.*?)</tr>", table)
    mean_rows = {
        g: re.findall(r">([\d.]+)<", cells) for g, name, cells in rows if name == "group mean"
    }
    assert mean_rows["colour"] == ["50.0", "40.0"]  # (60 + 40) / 2 ; (50 + 30) / 2
    assert mean_rows["shape"] == ["55.0", "45.0"]
    assert list(mean_rows) == ["colour", "pattern", "shape", "length", "size"]


def test_attribute_groups_by_name():
    assert [attribute_group(n) for n in ("wing_color", "Upperparts Colour", "tail pattern",
                                         "bill shape", "bill length", "size", "eye")] == [
        "colour", "colour", "pattern", "shape", "length", "size", "other",
    ]  # fmt: skip


def test_without_baseline_the_failed_case_lists_its_wrong_answers(tmp_path):
    path = full_run(tmp_path)
    html = build_report(path).read_text()
    assert (tmp_path / "report.html").is_file()
    section = html[html.index('id="baseline"') : html.index('id="granularity"')]
    assert "q-flip" in section and "q-wrong" in section and "q-right" not in section
    assert "pass <code>--baseline BASE.json</code>" in section


def test_sections_only_when_the_run_has_their_cases(tmp_path):
    path = write_run(tmp_path, "m", [case("a", "retrieval", "", "", 40.0, metric="mAP")])
    ids = {a.get("id") for _, a in parse(build_report(path).read_text()).tags}
    assert "retrieval-probe" in ids and "fig-retrieval-probe" in ids
    for absent in ("baseline", "granularity", "knowledge-bias", "attributes", "meta", "robustness"):
        assert absent not in ids


def test_fgbmk_report_rebuilds_into_another_folder(tmp_path, capsys):
    path = full_run(tmp_path / "run")
    out = tmp_path / "review"
    assert main(["report", str(path.parent), "--out", str(out)]) == 0
    assert f"wrote {out / 'report.html'}" in capsys.readouterr().out
    assert (out / "figures" / "meta.png").is_file()
    assert "data:image/jpeg" in (out / "report.html").read_text()  # thumbnails read from the run


def test_fgbmk_report_errors_name_the_file(tmp_path, capsys):
    bad = tmp_path / "results.json"
    bad.write_text("[]")
    assert main(["report", str(bad)]) == 2
    assert f"{bad}: not an FG-BMK results file" in capsys.readouterr().err
    good = write_run(tmp_path / "g", "m", [], [])
    (tmp_path / "g" / "samples.jsonl").write_text("{broken\n")
    assert main(["report", str(good)]) == 2
    assert "samples.jsonl:1: not valid JSON" in capsys.readouterr().err


def test_fgbmk_datasets_prints_found_and_missing(tmp_path, capsys):
    from pytest_fgbmk.data.synth import SynthConfig, ensure_synthetic

    root = ensure_synthetic(
        SynthConfig(species_per_meta=4, images_per_species=2, size=32), tmp_path
    )
    assert main(["datasets", str(root)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"datasets under {root}:")
    assert re.search(r"^  cub: .*\bnot found\b|^  cub: /", out, re.M)
    assert "stanford_dogs: not found (looked for" in out
    assert re.search(r"\d+ found, \d+ missing", out)
    assert main(["datasets", str(tmp_path / "nope")]) == 2
    assert "nope: not a folder" in capsys.readouterr().err
    assert main(["datasets", str(root), "--only", "wine"]) == 0
    assert "wine: not found" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["datasets", "--help"])
    assert "example:\n  fgbmk datasets" in capsys.readouterr().out


def test_failed_without_a_baseline_is_listed_not_shown_as_a_regression(tmp_path):
    c = case(
        "a", "granularity", "genus", "tf", 40.0, outcome="failed",
        gate={"baseline_file": "baselines/m/x.json", "fingerprint_differs": "limit: 50 → 20"},
    )  # fmt: skip
    path = write_run(tmp_path, "m", [c], [])
    html = build_report(path).read_text()
    section = html[html.index('id="baseline"') : html.index('id="granularity"')]
    assert "1 case(s) failed the gate. Of 0 case(s) with a baseline" in section
    assert "<details><summary>1 case(s) failed with no baseline to compare with" in section
    assert "fingerprint_differs: limit: 50 → 20" in section
    assert 'id="reg-' not in section


def test_only_regressed_cases_samples_are_read(tmp_path):
    """The page reads the samples of the cases it shows (regressed ones) and skips the other
    lines unparsed: a line of a passed case that is not even JSON does not stop it."""
    from report_fixtures import sample

    from pytest_fgbmk.report.html import load_samples, regressed_cases
    from pytest_fgbmk.report.results import read_results

    path = full_run(tmp_path)
    samples = tmp_path / "samples.jsonl"
    passed = sample("synth_birds-genus-tf", "q-other", True, image="img/d.png")
    from pytest_fgbmk.report.results import write_samples

    write_samples([passed], tmp_path / "other.jsonl")
    other_line = (tmp_path / "other.jsonl").read_text()
    samples.write_text(samples.read_text() + other_line + '{"case_id": "broken", not json\n')
    results = read_results(path)
    shown = [c.case_id for c in regressed_cases(results)]
    assert shown == ["synth_birds-species-tf"]
    got = load_samples(path, results, shown)
    assert list(got) == shown
    assert [r.id for r in got[shown[0]]] == ["q-right", "q-flip", "q-wrong"]
    assert load_samples(path, results, []) == {}
    every = load_samples(path, results, ["synth_birds-genus-tf", *shown])
    assert [r.id for r in every["synth_birds-genus-tf"]] == ["q-other"]
    html = build_report(path).read_text()
    assert "q-flip" in html and "q-other" not in html


def test_knowledge_bias_shows_the_per_image_figure_beside_per_question(report):
    """Issue 13 point 6: the release's per-image figure (both of an image's questions
    right) is in the report beside the per-question accuracy."""
    _, html = report
    section = html.split('id="knowledge-bias"')[1].split("</section>")[0]
    text = re.sub(r"<[^>]+>", "", section)
    assert "Per question 50.0%; per image (the release's figure: both of an image's " in text
    assert "questions right) 12.5% of 8 images." in text
