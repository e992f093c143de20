"""The run checks every image its selected cases read before it scores anything: a broken
or missing image stops the run as a data error naming the files (one rule for human and
machine cases, the same with several workers); a run with nothing to measure fails."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

from pytest_fgbmk.data.records import Dataset
from pytest_fgbmk.data.synth import SynthConfig, ensure_synthetic
from pytest_fgbmk.errors import ConfigError, DataError, DataFormatError
from pytest_fgbmk.run import RunOptions, run_benchmark
from pytest_fgbmk.run.data import check_has_images, load_data
from pytest_fgbmk.run.options import SYNTH_SIZES
from pytest_fgbmk.run.run import Run

SMALL = SynthConfig(**SYNTH_SIZES["small"])


def copy_synth(synth_dir: Path, dest_parent: Path) -> Path:
    """A private copy of the small synthetic data root (rendered once a session)."""
    src = ensure_synthetic(SMALL, synth_dir, progress=None)
    dest = dest_parent / src.name
    shutil.copytree(src, dest, symlinks=True)
    return dest


def cub_split(root: Path, split: str) -> list[Path]:
    """The image files of the synthetic birds' ``split`` (train or test), in index order."""
    cub = root / "cub"
    names = dict(line.split(" ", 1) for line in (cub / "images.txt").read_text().splitlines())
    flag = "1" if split == "train" else "0"
    ids = [
        i
        for i, f in (
            line.split() for line in (cub / "train_test_split.txt").read_text().splitlines()
        )
        if f == flag
    ]
    return [cub / "images" / names[i].strip() for i in ids]


@pytest.fixture
def data(synth_dir, tmp_path, monkeypatch) -> Path:
    """``$FGBMK_SYNTH_DIR`` pointing at a private copy of the small synthetic data."""
    parent = tmp_path / "synth"
    root = copy_synth(synth_dir, parent)
    monkeypatch.setenv("FGBMK_SYNTH_DIR", str(parent))
    return root


def options(tmp_path: Path, model: str = "oracle", **kw) -> RunOptions:
    return RunOptions(model=model, synth="small", cache=tmp_path / "cache", **kw)


def test_deleting_5_of_12_test_images_stops_knowledge_bias_naming_them(data, tmp_path):
    deleted = cub_split(data, "test")[:5]
    for p in deleted:
        p.unlink()
    with pytest.raises(DataError) as info:
        run_benchmark(options(tmp_path), baselines=None, tasks=("knowledge_bias",))
    text = str(info.value)
    # knowledge bias asks about every test image of both datasets: 12 + 12
    assert text.splitlines()[0] == (
        "5 of 24 images the selected cases need cannot be used (5 missing); no case was scored:"
    )
    assert text.splitlines()[1:6] == [f"  {p}: missing" for p in sorted(deleted)]


def test_a_symlinked_images_folder_stops_the_run_naming_the_link(data, tmp_path):
    """``cub/images -> /fast/disk/images``: refused (the real path must stay inside the
    dataset root), with the link named and the advice to link the whole dataset folder."""
    fast = tmp_path / "fast" / "images"
    shutil.move(data / "cub" / "images", fast)
    (data / "cub" / "images").symlink_to(fast)
    with pytest.raises(DataError) as info:
        run_benchmark(options(tmp_path), baselines=None, tasks=("knowledge_bias",))
    assert info.value.summary == (
        "12 of 24 images the selected cases need cannot be used (12 outside the dataset "
        "root); no case was scored"
    )
    link = data / "cub" / "images"
    assert info.value.hint.startswith(
        f"{link} is a symlinked folder inside the dataset that points outside it, to {fast} "
        "(12 images): "
    )
    assert "symlink the whole dataset folder instead" in info.value.hint
    assert all(f"in the symlinked folder {link} -> {fast}" in item for item in info.value.items)


def test_no_answer_is_asked_or_scored_when_an_image_is_broken(data, tmp_path):
    test = cub_split(data, "test")
    test[0].write_bytes(b"")
    test[1].write_bytes(test[1].read_bytes()[:200])
    run = Run(options(tmp_path, "tests.fake_models:counting"))
    try:
        with pytest.raises(DataError) as info:
            run.execute(run.all_selected())
        assert run.ctx.model().asked == []  # nothing was asked
        assert run.results == {} and run.verdicts == {}  # nothing was scored
        assert run.state.data_error == str(info.value)
        assert run.state.error == info.value.summary
        assert info.value.items == (
            f"{test[0]}: empty (0 bytes)",
            f"{test[1]}: truncated (Truncated File Read)",
        )
        with pytest.raises(Exception, match="no case was scored"):
            run.result(run.all_selected()[0].id)
    finally:
        run.close()


def test_a_train_image_counts_only_for_cases_that_read_it(data, tmp_path):
    """Only machine cases read train images: a model that cannot encode skips them, so a
    broken train image does not stop its run; one that encodes is stopped."""
    bad = cub_split(data, "train")[0]
    bad.write_bytes(b"GIF89a broken")
    result = run_benchmark(options(tmp_path), baselines=None)  # oracle: answers only
    assert all(r.error is None for r in result.results)
    assert sum(r.measurement is not None for r in result.results) == 48
    with pytest.raises(DataError) as info:
        run_benchmark(options(tmp_path, "tests.fake_models:species_encoder"), baselines=None)
    assert info.value.items == (f"{bad}: not an image (Pillow does not recognise its format)",)
    assert "1 of 48 images" in info.value.summary  # every train and test image of both


def test_a_model_that_reads_train_images_to_prepare_has_them_checked_first(data, tmp_path):
    """The ``probe:`` model fits its heads on the train split in ``prepare``: for it, a
    broken train image is a data error of the human-oriented cases too, found before the
    model reads anything (it was read by ``prepare`` and failed each case on its own)."""
    bad = cub_split(data, "train")[0]
    bad.write_bytes(bad.read_bytes()[:300])
    run = Run(options(tmp_path, "tests.fake_models:train_reader"))
    try:
        with pytest.raises(DataError) as info:
            run.execute([s for s in run.all_selected() if s.task.needs == "answers"])
        assert info.value.items == (f"{bad}: truncated (Truncated File Read)",)
        # 12 test + 12 train images of each dataset
        assert "1 of 48 images the selected cases need" in info.value.summary
        assert run.ctx.model().prepared == [] and run.ctx.model().asked == []
    finally:
        run.close()
    # a model that reads no train images is not stopped by it
    result = run_benchmark(options(tmp_path), baselines=None, tasks=("knowledge_bias",))
    assert all(r.error is None for r in result.results)


@pytest.mark.parametrize("aligned", ["1", "0"])
def test_the_alignment_effect_alone_is_stopped_by_a_broken_train_image(data, tmp_path, aligned):
    """Whether the features have an ``aligned`` view is known only by extracting them: that
    comes after the image check. (Asked first, the extraction read the broken image; the
    case erred alone and the other dataset's case was scored.)"""
    bad = cub_split(data, "train")[0]
    bad.write_bytes(b"GIF89a nope")
    opts = options(
        tmp_path, "tests.fake_models:species_encoder", model_args=(f"aligned={aligned}",)
    )
    with pytest.raises(DataError) as info:
        run_benchmark(opts, baselines=None, tasks=("alignment_effect",))
    assert info.value.items == (f"{bad}: not an image (Pillow does not recognise its format)",)
    assert "1 of 48 images" in info.value.summary


def test_the_alignment_effect_still_skips_a_model_without_an_aligned_view(data, tmp_path):
    opts = options(tmp_path, "tests.fake_models:species_encoder")
    result = run_benchmark(opts, baselines=None, tasks=("alignment_effect",))
    assert [r.skip.split(";")[0] for r in result.results] == [
        "model tests.fake_models:species_encoder has no 'aligned' feature view (it gives cls)"
    ] * 2
    with_view = options(tmp_path, "tests.fake_models:species_encoder", model_args=("aligned=1",))
    measured = run_benchmark(with_view, baselines=None, tasks=("alignment_effect",))
    assert all(r.measurement is not None for r in measured.results)


def test_the_probe_model_declares_its_train_split():
    from pytest_fgbmk.models.probe import ProbeModel

    ds = load_data(RunOptions(model="oracle", synth="small")).datasets["synth_birds"]
    assert ProbeModel.prepare_images.__doc__ and ds.split("train")
    assert list(ProbeModel.prepare_images(object.__new__(ProbeModel), ds)) == list(
        ds.split("train")
    )


def test_a_warm_rerun_decodes_nothing(data, tmp_path):
    opts = options(tmp_path)
    for expected_decoded in (24, 0):
        run = Run(opts)
        try:
            run.execute([s for s in run.all_selected() if s.task.name == "knowledge_bias"])
            v = run.state.verification
            assert (v.checked, v.decoded, v.recorded) == (
                24,
                expected_decoded,
                24 - expected_decoded,
            )
        finally:
            run.close()


def test_two_workers_each_check_their_share_and_raise_the_same_error(data, tmp_path):
    test = cub_split(data, "test")
    for p in test[:3]:
        p.unlink()
    flowers = sorted((data / "inat2021" / "val").rglob("*.jpg"))  # iNat's val: the test split
    flowers[0].write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    runs = [
        Run(
            options(
                tmp_path,
                worker_index=i,
                worker_count=2,
                run_id="verify-test",
                exchange=tmp_path / "exchange",
            )
        )
        for i in range(2)
    ]
    errors: list[BaseException | None] = [None, None]

    def work(i: int) -> None:
        try:
            runs[i].execute(runs[i].all_selected())
        except BaseException as exc:  # noqa: BLE001 - compared below
            errors[i] = exc

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    try:
        assert all(isinstance(e, DataError) for e in errors), errors
        assert str(errors[0]) == str(errors[1])
        lines = str(errors[0]).splitlines()
        assert lines[0].startswith("4 of 24 images the selected cases need cannot be used")
        listed = {line.strip().split(": ")[0] for line in lines[1:5]}
        assert listed == {str(p) for p in test[:3]} | {str(flowers[0])}
        # each worker checked the images of its own cases (they overlap); together, all
        shares = [r.state.verification.checked for r in runs]
        assert all(n > 0 for n in shares) and sum(shares) >= 24
        assert all(r.results == {} for r in runs)
    finally:
        for r in runs:
            r.close()


# -- nothing to measure -------------------------------------------------------------------


def test_an_empty_data_root_fails_naming_the_option(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError) as info:
        load_data(RunOptions(model="oracle", data=tmp_path / "empty"))
    text = str(info.value)
    assert text.startswith(
        f"--fgbmk-data={tmp_path / 'empty'}: no dataset found, nothing to measure"
    )
    assert f"  cub: looked for CUB-200-2011: {tmp_path / 'empty' / 'images.txt'} not found" in text


def test_asking_only_for_absent_datasets_fails(data):
    with pytest.raises(ConfigError, match=r"no dataset of stanford_dogs, wine found"):
        load_data(RunOptions(model="oracle", data=data, datasets=("stanford_dogs", "wine")))


def test_a_dataset_without_test_images_fails_naming_its_folder(data):
    split = data / "cub" / "train_test_split.txt"
    split.write_text("".join(f"{line.split()[0]} 1\n" for line in split.read_text().splitlines()))
    with pytest.raises(DataFormatError) as info:
        load_data(RunOptions(model="oracle", data=data, datasets=("cub",)))
    assert info.value.path == data / "cub"
    assert info.value.detail == (
        "dataset cub lists no test image (24 train); every case measures the test split"
    )


def test_a_dataset_without_images_fails(tmp_path):
    empty = Dataset(
        name="mine",
        root=tmp_path,
        meta_category="x",
        levels=("category",),
        categories=(),
        samples=(),
        layout="imagefolder",
    )
    with pytest.raises(DataFormatError, match=r"dataset mine \(imagefolder\) lists no image"):
        check_has_images(empty)
