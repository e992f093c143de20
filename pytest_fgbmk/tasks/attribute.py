"""FG-BMK attribute recognition: is the bird's wing color X / which of these is its bill shape.

One case per dataset × attribute group × question type (true/false, multiple-choice), from
the per-image attribute annotations (CUB's 28 groups; DeepFashion, SkinCon).
"""

from pytest_fgbmk.task_names import ATTRIBUTE
from pytest_fgbmk.tasks.human import HumanTask


class AttributeRecognition(HumanTask):
    name = ATTRIBUTE
    title = "attribute recognition"
    suite = ("test_attribute_recognition", "test_attribute")
    order = 10


TASK = AttributeRecognition()
