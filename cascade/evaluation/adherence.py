"""Judge a generated image against the scene its prompt describes, and measure how much detail it has.

`score` parses the image and checks each attribute the prompt states (colour, shape, size, position,
relation, count, and pattern for images of at least 256 px). `eval_suite` is the fixed list of prompts to
judge a model on: phrasings from the eval split only, so none was seen in training. `detail` measures
spectral energy above the 64 px and 256 px Nyquist limits, which shows whether the super-resolution
stages add detail or only blur. `adherence_report` renders the suite with a model at each size and
scores it (`cascade eval adherence`).

Each case renders at every requested size with the same seed, so stage I's picture is shared and the
per-size figures show what the super-resolution stages change: accuracy should not drop, and the
detail figures should rise (docs/TRAINING.md).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import PIL.Image
from tqdm.auto import tqdm

from cascade.data.captions import COUNT, RELATION, Split, caption, layout
from cascade.data.parser import PATTERN_RESOLUTION, parse
from cascade.data.sampler import LAYOUTS, sample_scene
from cascade.data.scene import Scene, SceneObject, relation_between
from cascade.request import GenerationRequest

if TYPE_CHECKING:
    from cascade.pipeline import Cascade

# Attributes `score` can check, in report order.
SCORED = ("colour", "shape", "size", "pattern", "position", "relation", "count")
EVAL_SEED = 20_240_601
EVAL_SIZE = 320
# How much each agreeing attribute counts when pairing described objects with parsed ones: identity first.
_MATCH_WEIGHTS = {"shape": 4, "colour": 4, "position": 2, "size": 1}


@dataclass(frozen=True)
class EvalCase:
    prompt: str
    scene: Scene
    stated: frozenset[str]
    template: str


def eval_suite(n: int = EVAL_SIZE, seed: int = EVAL_SEED, split: Split = "eval") -> list[EvalCase]:
    """`n` (prompt, scene) pairs, the same on every call: layouts in turn, so each attribute is tested
    about equally, and captions from `split`'s templates and words."""
    cases = []
    for index in range(n):
        rng = np.random.default_rng([seed, index])
        scene = sample_scene(rng, LAYOUTS[index % len(LAYOUTS)])
        described = caption(scene, rng, split)
        cases.append(EvalCase(described.text, scene, described.stated, described.template))
    return cases


def score(
    image: PIL.Image.Image, scene: Scene, stated: Iterable[str] | None = None, parsed: Scene | None = None
) -> dict[str, bool]:
    """Per stated attribute, whether the image shows it, plus `overall` (all of them).

    Described objects are paired one-to-one with parsed objects to agree on as much as possible (shape
    and colour first); an attribute holds when every described object's partner has it. A missing
    partner fails every per-object attribute. `stated` defaults to everything the layout describes.
    """
    parsed = parse(image) if parsed is None else parsed
    keys = [k for k in SCORED if k in (default_stated(scene) if stated is None else set(stated))]
    if min(image.size) < PATTERN_RESOLUTION:
        keys = [k for k in keys if k != "pattern"]
    partners = _pair(scene.objects, parsed.objects)
    result = {}
    for key in keys:
        if key == "relation":
            result[key] = _relation_holds(scene, parsed, partners)
        elif key == "count":
            kind = scene.objects[0].kind
            result[key] = sum(o.kind == kind for o in parsed.objects) == len(scene.objects)
        else:
            result[key] = all(
                p is not None and getattr(parsed.objects[p], key) == getattr(o, key)
                for o, p in zip(scene.objects, partners, strict=True)
            )
    result["overall"] = all(result.values())
    return result


def default_stated(scene: Scene) -> set[str]:
    """What a full description of the scene commits to."""
    family = layout(scene)
    extra = {RELATION: "relation", COUNT: "count"}.get(family, "position")
    return {"colour", "shape", "size", "pattern", extra}


def accuracy(scores: Iterable[dict[str, bool]]) -> dict[str, float]:
    """Mean of each key over the images that were scored on it."""
    totals: dict[str, list[bool]] = {}
    for result in scores:
        for key, value in result.items():
            totals.setdefault(key, []).append(value)
    order = [*SCORED, "overall"]
    return {k: float(np.mean(totals[k])) for k in order if k in totals}


def detail(image: PIL.Image.Image, size: int = 1024) -> dict[str, float]:
    """How much fine detail an image holds, measured on its luminance resampled (bicubic) to `size`:
    the fractions of non-constant spectral energy above the Nyquist limit of a 64 px and of a 256 px
    image, and the mean squared gradient per pixel (in units of full-scale luminance)."""
    grey = image.convert("L")
    if grey.size != (size, size):
        grey = grey.resize((size, size), PIL.Image.Resampling.BICUBIC)
    luminance = np.asarray(grey, dtype=np.float64) / 255
    power = np.abs(np.fft.fft2(luminance - luminance.mean())) ** 2
    frequency = np.abs(np.fft.fftfreq(size))
    band = np.maximum(frequency[:, None], frequency[None, :])  # cycles per pixel at `size`
    total = power.sum() or 1.0
    dy, dx = np.diff(luminance, axis=0), np.diff(luminance, axis=1)
    return {
        "above_64": float(power[band > 0.5 * 64 / size].sum() / total),
        "above_256": float(power[band > 0.5 * 256 / size].sum() / total),
        "gradient_energy": float((dx**2).mean() + (dy**2).mean()),
    }


def evaluate(images: Sequence[PIL.Image.Image], cases: Sequence[EvalCase]) -> dict[str, dict[str, float]]:
    """Accuracy per attribute and mean detail figures of `images[i]` generated for `cases[i]`."""
    scores = [score(image, case.scene, case.stated) for image, case in zip(images, cases, strict=True)]
    figures = [detail(image) for image in images]
    return {
        "accuracy": accuracy(scores),
        "detail": {k: float(np.mean([f[k] for f in figures])) for k in figures[0]},
    }


def render_suite(
    cascade: Cascade,
    cases: Sequence[EvalCase],
    size: int,
    *,
    seed: int = 0,
    batch_size: int = 8,
    out: Path | None = None,
    progress: bool = True,
) -> list:
    """Images for `cases` at `size` (case i uses seed + i), rendered in batches; saved under `out` if set."""
    images = []
    starts = range(0, len(cases), batch_size)
    for start in tqdm(starts, desc=f"eval {size}px", unit="batch", disable=not progress):
        batch = cases[start : start + batch_size]
        requests = [
            GenerationRequest(prompt=case.prompt, seed=seed + start + i, size=size)
            for i, case in enumerate(batch)
        ]
        images += [result.image for result in cascade.run(requests, progress=False)]
    if out is not None:
        folder = out / f"{size}px"
        folder.mkdir(parents=True, exist_ok=True)
        for index, image in enumerate(images):
            image.save(folder / f"{index:04d}.png")
    return images


def adherence_report(
    cascade: Cascade, sizes: Sequence[int], cases: Sequence[EvalCase], **render_options
) -> dict[int, dict[str, dict[str, float]]]:
    """Per size: accuracy per attribute (and overall) and the mean detail figures."""
    return {size: evaluate(render_suite(cascade, cases, size, **render_options), cases) for size in sizes}


def format_report(report: dict[int, dict[str, dict[str, float]]]) -> str:
    """A plain-text table: one row per size, accuracy columns then detail columns."""
    first = next(iter(report.values()))
    columns = [*first["accuracy"], *first["detail"]]
    lines = ["size  " + "  ".join(f"{name:>15}" for name in columns)]
    for size, figures in report.items():
        values = {**figures["accuracy"], **figures["detail"]}
        lines.append(
            f"{size:<5} " + "  ".join(f"{values.get(name, float('nan')):>15.4f}" for name in columns)
        )
    return "\n".join(lines)


def _pair(described: Sequence[SceneObject], parsed: Sequence[SceneObject]) -> list[int | None]:
    """For each described object, the index of its parsed partner (None when there are too few),
    chosen to maximise the weighted number of agreeing attributes."""
    slots: list[int | None] = [*range(len(parsed)), *([None] * len(described))]
    best, best_score = [None] * len(described), -1
    for choice in itertools.permutations(slots, len(described)):
        agreement = sum(
            weight * (getattr(parsed[p], name) == getattr(o, name))
            for o, p in zip(described, choice, strict=True)
            if p is not None
            for name, weight in _MATCH_WEIGHTS.items()
        )
        if agreement > best_score:
            best, best_score = list(choice), agreement
    return best


def _relation_holds(scene: Scene, parsed: Scene, partners: list[int | None]) -> bool:
    relation = scene.relation
    if relation is None:
        return False
    subject, other = partners[relation.subject], partners[relation.object]
    if subject is None or other is None:
        return False
    return relation_between(parsed.objects[subject].centre, parsed.objects[other].centre) is relation.kind
