"""FG-BMK image classification on frozen features: one case per dataset, e.g. test_linear_probe[synth_birds] (DINOv2-protocol linear probe, head chosen on a validation split carved from train; top-1 and mean per-class accuracy), and test_alignment_effect[synth_birds] (the same probe on an LVLM's ``aligned`` view vs its vision-encoder views; skipped for a model without one)."""

import pytest

pytestmark = [pytest.mark.fgbmk_machine]


@pytest.mark.fgbmk_task("linear_probe")
def test_linear_probe(fgbmk_machine_measurement, fgbmk_gate):
    m = fgbmk_machine_measurement
    verdict = fgbmk_gate.check(m.case_id, m)
    if not verdict.ok:
        pytest.fail(verdict.message, pytrace=False)


@pytest.mark.fgbmk_task("alignment_effect")
def test_alignment_effect(fgbmk_machine_measurement, fgbmk_gate):
    m = fgbmk_machine_measurement
    verdict = fgbmk_gate.check(m.case_id, m)
    if not verdict.ok:
        pytest.fail(verdict.message, pytrace=False)
