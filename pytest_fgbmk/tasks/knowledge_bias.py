"""FG-BMK knowledge bias estimation: every test image asked about its own category and a sibling.

One case per dataset (true/false); the measurement carries the per-category accuracy
distribution (mean, worst-decile mean, spread) and the ranked per-category accuracies, and
the gate tests the categories too (Benjamini–Hochberg over categories).
"""

from pytest_fgbmk.questions.cases import Case
from pytest_fgbmk.task_names import KNOWLEDGE_BIAS
from pytest_fgbmk.tasks.human import HumanTask


class KnowledgeBias(HumanTask):
    name = KNOWLEDGE_BIAS
    title = "knowledge bias estimation"
    suite = ("test_knowledge_bias", "test_knowledge_bias")
    order = 20

    def param_id(self, case: Case) -> str:
        return case.dataset


TASK = KnowledgeBias()
