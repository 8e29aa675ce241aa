"""docs/SERVER.md's OpenAI SDK examples, run as written against a live server on a tiny model at IF's
sizes (64 -> 256 px); only the base URL changes, so the docs cannot drift from what works."""

from __future__ import annotations

import io
import re
from pathlib import Path

import PIL.Image
import pytest

from cascade import Cascade
from cascade.safeguards import Safeguards

DOCS = Path(__file__).resolve().parents[2] / "docs" / "SERVER.md"
DOCUMENTED_URL = "http://127.0.0.1:8000"


def example(marker: str) -> str:
    """The one ```python block of docs/SERVER.md that contains `marker`."""
    blocks = [b for b in re.findall(r"^```python\n(.*?)^```", DOCS.read_text(), re.M | re.S) if marker in b]
    assert len(blocks) == 1, f"expected one python block with {marker!r} in {DOCS}, found {len(blocks)}"
    assert DOCUMENTED_URL in blocks[0]
    return blocks[0]


def run(code: str, url: str) -> dict:
    namespace: dict = {"__name__": "docs_example"}
    exec(compile(code.replace(DOCUMENTED_URL, url), str(DOCS), "exec"), namespace)
    return namespace


@pytest.fixture(scope="module")
def if_sized_cascade(tmp_path_factory, lexical) -> Cascade:
    from tests.tiny_models import IF_GEOMETRY, build_if_checkpoint

    folders = build_if_checkpoint(tmp_path_factory.mktemp("if-docs"), **IF_GEOMETRY)
    safeguards = Safeguards(prompt_filter=lexical.check)
    return Cascade.from_pretrained(
        folders["stage_I"], stage_II=folders["stage_II"], device="cpu", safeguards=safeguards
    )


@pytest.fixture()
def server(serve, if_sized_cascade):
    assert if_sized_cascade.sizes == (64, 256)
    return serve(model=if_sized_cascade)


def test_the_images_api_example_runs_as_documented(server):
    done = run(example("n=2,"), server.url)
    image = PIL.Image.open(io.BytesIO(done["png"]))
    assert image.size == (256, 256) and image.text["seed"] == "42"
    assert done["seed"] == 42 and done["result"].data[1].model_extra["seed"] == 43


def test_the_streaming_example_runs_as_documented(server, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run(example("stream=True"), server.url)
    assert PIL.Image.open(tmp_path / "partial-0.png").size == (64, 64)
    assert PIL.Image.open(tmp_path / "star.png").size == (256, 256)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["partial-0.png", "star.png"]


def test_the_upscale_example_runs_as_documented(server, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    PIL.Image.new("RGB", (64, 64), (200, 30, 30)).save(tmp_path / "in.png")
    run(example("/images/upscales"), server.url)
    with PIL.Image.open(tmp_path / "big.png") as image:
        assert image.size == (256, 256) and image.text["seed"] == "7"
