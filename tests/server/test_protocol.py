"""OpenAI's request to engine requests: limits applied, n expanded with consecutive seeds."""

from __future__ import annotations

import pytest

from cascade import InvalidRequestError
from cascade.engine import EngineConfig
from server.config import ServerConfig
from server.protocol import GenerationBody, to_requests


def test_n_images_get_consecutive_seeds_and_the_same_settings():
    body = GenerationBody(prompt="a red star", n=3, size="256x256", seed=40, steps=[10, 5], guidance=3.0)
    requests = to_requests(body, ServerConfig(), default_size=64)
    assert [r.seed for r in requests] == [40, 41, 42]
    assert {(r.size, r.steps, r.guidance, r.prompt) for r in requests} == {(256, (10, 5), 3.0, "a red star")}


def test_without_a_seed_one_random_seed_starts_the_run():
    requests = to_requests(GenerationBody(prompt="a red star", n=2), ServerConfig(), default_size=64)
    assert requests[1].seed == requests[0].seed + 1
    assert requests[0].size == 64  # the default the caller gives (`ServedModel.default_size`)


def test_sizes_are_width_x_height_and_a_square_is_its_side():
    def size(text: str) -> object:
        return to_requests(GenerationBody(prompt="a", size=text), ServerConfig(), default_size=64)[0].size

    assert (size("1536x1024"), size("1024x1536"), size("256x256"), size(" 64X64 ")) == (
        (1536, 1024), (1024, 1536), 256, 64
    )  # fmt: skip


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"size": "512x512x3"}, "size"),
        ({"size": "64x"}, "size"),
        ({"size": "wide"}, "size"),
        ({"size": "2048x256"}, "size"),  # past 4:1; whether the model makes a size is planning's check
        ({"n": 5}, "n"),
        ({"prompt": "x" * 1001}, "prompt"),
        ({"steps": [10, 251]}, "steps"),
        ({"seed": 2**63 - 1, "n": 2}, "seed"),
    ],
)
def test_limits_name_the_offending_field(fields, field):
    with pytest.raises(InvalidRequestError) as refusal:
        body = GenerationBody(**{"prompt": "a red star", **fields})
        to_requests(body, ServerConfig(), default_size=64)
    assert refusal.value.field == field


def test_config_refuses_an_n_limit_the_queue_could_never_hold():
    with pytest.raises(ValueError, match="max_queue"):
        ServerConfig(engine=EngineConfig(max_queue=2), max_images=4)
