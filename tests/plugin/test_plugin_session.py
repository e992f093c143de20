"""The session's option checks and device choice, without pytest in the loop."""

from __future__ import annotations

import pytest

import pytest_fgbmk.run.context as context_mod
from pytest_fgbmk.errors import ConfigError
from pytest_fgbmk.run.context import RunContext
from pytest_fgbmk.run.options import RunOptions


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"templates": "fancy"}, "--fgbmk-templates='fancy' is not valid"),
        ({"scoring": "loose"}, "--fgbmk-scoring='loose' is not valid"),
        ({"synth": "huge"}, "--fgbmk-synth='huge' is not valid"),
        ({"protocol": "paper"}, "--fgbmk-protocol='paper' is not valid; use standard or release"),
        ({"limit": 0}, "--fgbmk-limit must be at least 1"),
        ({"batch_size": 0}, "--fgbmk-batch-size must be at least 1"),
        ({"datasets": ()}, "--fgbmk-datasets is empty"),
    ],
)
def test_bad_options_name_the_option(kwargs, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        RunContext(RunOptions(**kwargs))


def test_missing_data_root_names_the_option(tmp_path):
    with pytest.raises(ConfigError, match=r"--fgbmk-data=.*nope: no such folder"):
        RunContext(RunOptions(data=tmp_path / "nope"))


def test_each_xdist_worker_takes_its_own_gpu(monkeypatch):
    import torch

    monkeypatch.setattr(context_mod, "may_have_cuda", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    for index, device in [(0, "cuda:0"), (1, "cuda:1"), (3, "cuda:1")]:
        s = RunContext(RunOptions(model="oracle", worker_index=index))
        assert s.model_args()["device"] == device
    explicit = RunContext(RunOptions(model="oracle", worker_index=1, device="cpu"))
    assert explicit.model_args()["device"] == "cpu"
    single = RunContext(RunOptions(model="oracle"))
    assert "device" not in single.model_args()


def test_dedicated_options_win_over_model_args():
    s = RunContext(
        RunOptions(
            model="oracle",
            model_args=("dtype=fp16", "batch_size=2", "max_new_tokens=7"),
            dtype="bf16",
            batch_size=4,
        )
    )
    assert s.model_args()["dtype"] == "bf16" and s.model_args()["batch_size"] == "4"
    assert s.settings().max_new_tokens == 7
