"""The report writer spools each case's sample records to disk as they are added.

samples.jsonl must come out byte for byte as writing every record at the end did, the
thumbnails must be the same images, a worker's spooled records must reach the controller,
and adding records must not hold them in memory (a 3.5M-question run held about 3 GB).
"""

from __future__ import annotations

import tempfile
import tracemalloc
from dataclasses import replace
from pathlib import Path

from report_fixtures import case, run_info, sample

from pytest_fgbmk.report.results import read_samples, write_samples
from pytest_fgbmk.report.writer import (
    PARTS,
    SPOOL,
    THUMBS_PER_CASE,
    ReportWriter,
    Spooled,
    thumbnail_name,
    write_thumbnails,
)


def records_of(cid: str, n: int, *, wrong_every: int = 3, dataset: str = "toy") -> list:
    return [
        sample(
            cid,
            f"{cid}-q{i}",
            i % wrong_every != 0,
            image=f"img/{i % 7}.png",
            dataset=dataset,
            prompt=f"Is this bird {i} a ñandú?",  # a non-ASCII prompt stays unescaped
        )
        for i in range(n)
    ]


def test_samples_file_is_byte_identical_to_writing_all_records_at_the_end(tmp_path):
    """Cases added in any order, one replaced, one with no records: samples.jsonl is the
    records of the cases in case-id order, the later add of a case winning, exactly as
    write_samples writes them; the spool folder is gone afterwards."""
    w = ReportWriter(tmp_path / "out")
    b, a, c = records_of("b-case", 30), records_of("a-case", 5), records_of("c-case", 9)
    w.add_samples("b-case", records_of("b-case", 4, wrong_every=1))
    w.add_samples("c-case", iter(c))  # a generator is consumed once, as the hook gives it
    w.add_samples("a-case", a)
    w.add_samples("empty", [])
    w.add_samples("b-case", b)  # replaces the first b-case
    assert len(list((tmp_path / "out" / SPOOL).rglob("*.jsonl"))) == 4
    w.add_case(case("toy", "granularity", "species", "tf", 50.0))
    written = w.write(run_info("m"), html=False)
    assert [p.name for p in written] == ["results.json", "samples.jsonl"]
    expected = tmp_path / "expected.jsonl"
    assert write_samples([*a, *b, *c], expected) == 44
    assert (tmp_path / "out" / "samples.jsonl").read_bytes() == expected.read_bytes()
    assert "ñandú" in expected.read_text(encoding="utf-8")
    assert not (tmp_path / "out" / SPOOL).exists()


def test_no_samples_file_when_no_case_has_records(tmp_path):
    w = ReportWriter(tmp_path)
    w.add_samples("empty", [])
    w.add_case(case("toy", "granularity", "species", "tf", 50.0))
    assert [p.name for p in w.write(run_info("m"), html=False)] == ["results.json"]
    assert not (tmp_path / "samples.jsonl").exists()


def test_adding_records_does_not_hold_them_in_memory():
    """tracemalloc's peak while spooling 20,000 records made on the fly stays under 1 MB
    (holding them took about 20 MB: a record and its strings are about 1 kB)."""

    def made(n: int):
        for i in range(n):
            yield sample("big", f"q{i:06d}", i % 2 == 0, prompt="Which species is this? " * 20)

    with tempfile.TemporaryDirectory() as d:
        w = ReportWriter(Path(d))
        tracemalloc.start()
        try:
            w.add_samples("big", made(20_000))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < 1 << 20, peak
        s = w.samples["big"]
        assert isinstance(s, Spooled) and s.lines == 20_000
        assert len(s.wrong) == THUMBS_PER_CASE
        assert [r.id for r in w.records("big")][:3] == ["q000000", "q000001", "q000002"]


def test_worker_spools_reach_the_controller_and_later_parts_win(tmp_path):
    """Two workers' parts name their spool files; the controller's samples.jsonl holds
    both workers' cases (the later part's copy of a case both sent) and every spool file
    and the parts folder are removed."""
    gw0, gw1 = ReportWriter(tmp_path), ReportWriter(tmp_path)
    gw0.add_samples("x", records_of("x", 3))
    gw0.add_samples("y", records_of("y", 2, wrong_every=1))
    gw1.add_samples("y", records_of("y", 6))
    gw0.save_part("gw0", {})
    gw1.save_part("gw1", {})
    controller = ReportWriter(tmp_path)
    assert controller.merge_parts() == [{}, {}]
    assert not (tmp_path / PARTS).exists()
    controller.add_case(case("toy", "granularity", "species", "tf", 50.0))
    controller.write(run_info("m"), html=False)
    ids = [r.id for r in read_samples(tmp_path / "samples.jsonl")]
    assert ids == [f"x-q{i}" for i in range(3)] + [f"y-q{i}" for i in range(6)]
    assert not (tmp_path / SPOOL).exists()


def test_a_killed_runs_spool_is_removed_by_the_next_write(tmp_path):
    killed = ReportWriter(tmp_path)
    killed.add_samples("x", records_of("x", 3))  # never written: the run died here
    assert (tmp_path / SPOOL).is_dir()
    again = ReportWriter(tmp_path)
    again.add_samples("x", records_of("x", 2))
    again.add_case(case("toy", "granularity", "species", "tf", 50.0))
    again.write(run_info("m"), html=False)
    assert [r.id for r in read_samples(tmp_path / "samples.jsonl")] == ["x-q0", "x-q1"]
    assert not (tmp_path / SPOOL).exists()


def test_thumbnails_match_those_chosen_from_all_records(tmp_path):
    """The writer's thumbnails (first wrong answers per case, from the spool summaries, and
    flipped questions, read back from the spool) are the files write_thumbnails makes from
    every record in memory."""
    from PIL import Image

    from pytest_fgbmk.data.records import Category, Dataset, Sample

    root = tmp_path / "ds"
    (root / "img").mkdir(parents=True)
    cat = Category(0, "red finch", ("red finch",))
    rows = []
    for i in range(40):
        Image.new("RGB", (30, 20), (i * 6, 30, 30)).save(root / "img" / f"{i}.png")
        rows.append(Sample(f"s{i}", f"img/{i}.png", 0, cat.name, "test", cat.taxonomy))
    ds = Dataset("toy", root, "bird", ("species",), (cat,), tuple(rows))
    # case a: 20 wrong answers on 20 images (12 get a thumbnail); case b: one question
    # flipped right → wrong whose answer is not among b's first wrong ones; a record of a
    # dataset not loaded
    a = [sample("a", f"a{i}", False, image=f"img/{i}.png", dataset="toy") for i in range(20)]
    b = [
        *(sample("b", f"b{i}", False, image=f"img/{20 + i}.png", dataset="toy") for i in range(14)),
        sample("b", "b-flip", False, image="img/39.png", dataset="toy"),
        sample("b", "other", False, image="img/0.png", dataset="elsewhere"),
    ]
    flipped = {"flipped": {"right_to_wrong": 1, "wrong_to_right": 0, "ids": ["b-flip"]}}
    cases = [
        case("toy", "granularity", "species", "tf", 40.0, case_id="a"),
        case("toy", "granularity", "species", "mc", 40.0, case_id="b", details=flipped),
    ]
    w = ReportWriter(tmp_path / "spooled")
    for c in cases:
        w.add_case(c)
    w.add_samples("b", b)
    w.add_samples("a", a)
    w.write(run_info("m"), datasets={"toy": ds}, html=False)
    made = write_thumbnails(tmp_path / "held", {"toy": ds}, [*a, *b], flipped=[("b", "b-flip")])
    assert made == 25  # 12 + 12 + the flipped one
    names = {p.relative_to(tmp_path / "held") for p in (tmp_path / "held").rglob("*.jpg")}
    got = {p.relative_to(tmp_path / "spooled") for p in (tmp_path / "spooled").rglob("*.jpg")}
    assert got == names and len(got) == 25
    assert (tmp_path / "spooled" / thumbnail_name("toy", "img/39.png")).is_file()
    assert not (tmp_path / "spooled" / thumbnail_name("toy", "img/33.png")).exists()


def test_spooled_round_trips_through_a_part():
    s = Spooled(Path("/x/1.jsonl"), 3, (("toy", "img/a.png"),))
    assert Spooled.from_dict(s.as_dict()) == s
    assert replace(s, lines=4) != s
