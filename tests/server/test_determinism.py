"""Through the HTTP API, an image depends only on its request: not on batch-mates, nor on OOM splits.

The served cascade runs fixed 2-row forwards (`--forward-rows 2`), which is what makes the PNG bytes,
not just the pixels to within a level, independent of the batch.
"""

from __future__ import annotations

import base64
import io
from concurrent.futures import ThreadPoolExecutor

import httpx
import PIL.Image
import pytest

from cascade.engine import EngineConfig
from server.config import ServerConfig

TARGET = {"prompt": "a red star above a blue ring", "size": "64x64", "seed": 5, "steps": 3}
OTHERS = [
    {"prompt": "two yellow triangles", "size": "64x64", "seed": 1, "steps": 2, "guidance": 2.0},
    {"prompt": "a green heart", "size": "32x32", "seed": 2, "steps": 4},
    {"prompt": "a purple cross on the left", "size": "64x64", "seed": 3, "steps": [3, 1, 2]},
    {"prompt": "a blue ring", "size": "16x16", "seed": 4, "steps": 5, "negative_prompt": "red"},
    {"prompt": "a big circle", "size": "64x64", "seed": 6, "steps": 1, "guidance": 1.0},
    {"prompt": "a wide green field", "size": "96x64", "seed": 7, "steps": 2},
    {"prompt": "a tall tower", "size": "16x32", "seed": 8, "steps": 3},
]


def generate(client, request: dict) -> str:
    body = dict(request)
    prompt, size = body.pop("prompt"), body.pop("size")
    return client.images.generate(prompt=prompt, size=size, extra_body=body).data[0].b64_json


def concurrently(client, requests: list[dict]) -> list[str]:
    with ThreadPoolExecutor(len(requests)) as pool:
        return list(pool.map(lambda request: generate(client, request), requests))


@pytest.fixture()
def server(serve):
    return serve(ServerConfig(engine=EngineConfig(max_batch_size=4)))


def test_same_seed_gives_identical_png_bytes_alone_and_among_concurrent_requests(server):
    client = server.client()
    alone = generate(client, TARGET)
    long_running = {"prompt": "a big circle", "size": "64x64", "seed": 9, "steps": [200, 1, 1]}
    with httpx.stream("POST", f"{server.url}/v1/generate", json=long_running) as stream:
        next(line for line in stream.iter_lines() if line == "event: progress")  # it is running now
        together = concurrently(client, [*OTHERS[:2], TARGET, *OTHERS[2:]])
    assert together[2] == alone
    sizes = [PIL.Image.open(io.BytesIO(base64.b64decode(image))).size for image in together]
    assert sizes[-2:] == [(96, 64), (16, 32)]  # other shapes ran beside it
    forwards = server.metric("cascade_step_batch_size_count", stage="16px")
    assert server.metric("cascade_step_batch_size_sum", stage="16px") > forwards  # batches were shared


def test_out_of_memory_batches_are_split_and_every_request_still_gets_its_image(
    server, served_cascade, out_of_memory_above
):
    client = server.client()
    expected = [generate(client, {**TARGET, "seed": seed}) for seed in (20, 21, 22)]
    out_of_memory_above(served_cascade.stages[2], 1)
    body = {key: value for key, value in TARGET.items() if key not in ("prompt", "size", "seed")}
    together = client.images.generate(  # n=3 enters the engine at once, so the three share every stage
        prompt=TARGET["prompt"], size=TARGET["size"], n=3, extra_body={**body, "seed": 20}
    )
    assert [item.b64_json for item in together.data] == expected
    assert server.service.engine.loop.policy.max_batch_size[2] == 1  # the stage learnt its limit
