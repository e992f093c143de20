"""FG-BMK feature robustness: L-infinity PGD in feature space against each dataset's linear-probe head, e.g. test_feature_robustness[synth_birds] (perturbed top-1 at the default relative radius gated; clean top-1, the drop and the curve as properties), plus a coarse control on the bundled data, test_feature_robustness[synth_birds-genus] (same images, coarse labels); CIFAR-100 is the generic control when present."""

import pytest

pytestmark = [pytest.mark.fgbmk_machine]


@pytest.mark.fgbmk_task("feature_robustness")
def test_feature_robustness(fgbmk_machine_measurement, fgbmk_gate):
    m = fgbmk_machine_measurement
    verdict = fgbmk_gate.check(m.case_id, m)
    if not verdict.ok:
        pytest.fail(verdict.message, pytrace=False)
