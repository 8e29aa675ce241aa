"""The shipped demo cascade loads by default and draws what a prompt asks, which random weights cannot.

The cases are eval-suite prompts (held-out phrasings) that the shipped model gets right at their eval
seeds in `cascade eval adherence --sizes 64` (3 of the first 100; docs/TRAINING.md has the figures).
The same pipeline with its base U-Net re-initialised must get them wrong, so the test measures the
weights, not the parser.
"""

from __future__ import annotations

import pytest
import torch

from cascade import Cascade, GenerationRequest
from cascade.evaluation.adherence import eval_suite, score
from cascade.options import SHIPPED_MODEL
from cascade.training.export import STAGE_DEFAULTS

CASES = (11, 28)  # "exactly three black circles", "somewhere in the frame: a leaf-green cross"

pytestmark = pytest.mark.skipif(not SHIPPED_MODEL.is_dir(), reason="no shipped model in this checkout")


@pytest.fixture(scope="module")
def shipped():
    return Cascade.from_pretrained(SHIPPED_MODEL, device="cpu")


def adherence(cascade: Cascade) -> list[bool]:
    cases = eval_suite(max(CASES) + 1)
    requests = [GenerationRequest(prompt=cases[i].prompt, seed=i, size=64) for i in CASES]
    results = cascade.run(requests, progress=False)
    return [
        score(r.image, cases[i].scene, cases[i].stated)["overall"]
        for r, i in zip(results, CASES, strict=True)
    ]


def test_default_model_is_the_shipped_one(monkeypatch):
    from cascade import default_model_path

    monkeypatch.delenv("CASCADE_MODEL", raising=False)
    assert default_model_path() == SHIPPED_MODEL


def test_shipped_sampling_defaults_are_what_export_writes(shipped):
    for stage, defaults in zip(shipped.stages, STAGE_DEFAULTS.values(), strict=True):
        assert {key: getattr(stage.spec, key) for key in defaults} == defaults


def test_shipped_weights_draw_what_the_prompts_say(shipped):
    assert adherence(shipped) == [True, True]


def test_random_weights_do_not(shipped):
    unet = shipped.stages[0].unet
    saved = {name: tensor.clone() for name, tensor in unet.state_dict().items()}
    try:
        torch.manual_seed(0)
        for parameter in unet.parameters():
            torch.nn.init.normal_(parameter, std=0.02) if parameter.dim() > 1 else torch.nn.init.zeros_(
                parameter
            )
        assert adherence(shipped) == [False, False]
    finally:
        unet.load_state_dict(saved)
