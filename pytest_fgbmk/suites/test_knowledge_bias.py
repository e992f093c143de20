"""FG-BMK knowledge bias: one case per dataset: every test image asked once about its own category and once about a sibling; the measurement carries the per-category accuracy distribution (mean, worst-decile mean, spread) and the ranked per-category accuracies."""

import pytest

pytestmark = [pytest.mark.fgbmk_human]


@pytest.mark.fgbmk_task("knowledge_bias")
def test_knowledge_bias(fgbmk_measurement, fgbmk_gate):
    verdict = fgbmk_gate.check(fgbmk_measurement.case_id, fgbmk_measurement)
    if not verdict.ok:
        pytest.fail(verdict.message, pytrace=False)
