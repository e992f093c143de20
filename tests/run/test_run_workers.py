"""Under -n N: a model that fails to load, an unknown spec, and the exchange folder's clean-up."""

from __future__ import annotations

import pytest

HUMAN = ("-m", "fgbmk_human")


@pytest.mark.slow
def test_a_model_that_fails_to_load_on_the_workers_fails_each_test_with_one_line(run, pytester):
    result = run(*HUMAN, "--fgbmk-model=tests.fake_models:unloadable", "-n", "2", subprocess=True)
    text = result.stdout.str() + result.stderr.str()
    assert result.ret == 1
    assert "node down" not in text and "INTERNALERROR" not in text and "Traceback" not in text
    message = "--fgbmk-model=tests.fake_models:unloadable: no checkpoint at /nonexistent/ckpt"
    # shown in full once, as a run error; every test refers to it (none waits for a dead worker)
    assert text.count(message) == 1
    result.stdout.fnmatch_lines([f"48 cases not measured: {message}*"])
    # once per test in the ERRORS section; the short summary may repeat it untruncated
    # (pytest does not truncate that summary when CI or BUILD_NUMBER is set)
    errors = text.split("short test summary info")[0]
    assert errors.count("(a run error that stopped 48 cases, shown in full once") == 48
    # the controller removed the run's exchange folder
    assert not any((pytester.path / ".fgbmk_cache" / "runs").glob("*"))


def test_an_unknown_model_spec_is_one_usage_error_under_xdist(run):
    result = run(*HUMAN, "--fgbmk-model=nonexistent", "-n", "2", subprocess=True)
    assert result.ret == 4
    result.stderr.fnmatch_lines(["ERROR: --fgbmk-model=nonexistent: unknown model spec*"])
    assert "node down" not in result.stdout.str() + result.stderr.str()
