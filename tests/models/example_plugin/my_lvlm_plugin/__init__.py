"""An example model package: ``pytest --fgbmk-model=my_lvlm`` finds ``load`` by name."""

from pytest_fgbmk.models.base import ModelAdapter


class MyLVLM(ModelAdapter):
    name, can_answer = "my_lvlm", True

    def __init__(self, options):
        self.options = options  # ModelOptions: device, dtype, max_new_tokens, extra, ...

    @property
    def fingerprint(self):
        return "my_lvlm-v1"  # change it whenever the weights or the prompting change

    def answer(self, requests, settings):  # your model here: one text per request
        return ["yes" for _ in requests]


def load(options):
    return MyLVLM(options)
