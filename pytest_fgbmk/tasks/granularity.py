"""FG-BMK hierarchical granularity recognition: one case per taxonomy level × question type.

True/false and multiple-choice at every level with enough classes (CUB: class → genus →
species; iNat2021: kingdom … species), short answer at the finest level.
"""

from pytest_fgbmk.task_names import GRANULARITY
from pytest_fgbmk.tasks.human import HumanTask


class HierarchicalGranularity(HumanTask):
    name = GRANULARITY
    title = "hierarchical granularity recognition"
    suite = ("test_granularity", "test_granularity")
    order = 30


TASK = HierarchicalGranularity()
