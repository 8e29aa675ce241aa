"""Prompt lines to image jobs: stable file names, seeds derived from the line id, settings fingerprints.

An image's seed is a hash of (run seed, line id, image index), or the line's own `seed` + index, so it
never depends on batch composition, order or which worker renders it. Its fingerprint is a hash of
everything that decides its pixels (model, prompt, seed, every resolved stage setting): a rerun whose
fingerprint for a file name differs from the manifest's is a changed input, not a finished image.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import PIL.Image

from cascade.errors import InvalidRequestError
from cascade.images import decode_picture
from cascade.planning import StagePlan, stage_records
from cascade.render.inputs import BadLine, PerStage, PromptLine, unreadable
from cascade.request import GenerationRequest
from safety.verdict import SafetyVerdict

MAX_IMAGES_PER_LINE = 1000
SEED_BITS = 63

Planner = Callable[[GenerationRequest], StagePlan]  # `plan_request` over the model's stage specs


@dataclass(frozen=True)
class RenderSettings:
    """The run's settings. A line's own `seed`, `n`, `size`, `steps`, `guidance`, `negative_prompt` win."""

    seed: int = 0  # the run seed every image seed derives from
    n: int = 1  # images per line
    size: int | tuple[int, int] = 64  # a side or (width, height)
    steps: PerStage = None  # None: each stage's saved default
    guidance: PerStage = None
    negative_prompt: str | None = None
    solver: str | None = None


@dataclass(frozen=True)
class Picture:
    """An input picture of a line (img2img or inpainting), read once however many jobs use it."""

    file: str  # its path, as this machine (and every Ray worker) reads it
    sha256: str  # of the file's bytes: a changed picture is a changed input
    image: PIL.Image.Image = field(compare=False, repr=False)

    @classmethod
    def read(cls, path: str | Path, name: str, expected_sha256: str | None = None) -> Picture:
        """The picture at `path`; an InvalidRequestError naming `name` if it cannot be read or (with
        `expected_sha256`) is not the file that was planned."""
        try:
            data = Path(path).read_bytes()
        except OSError as error:
            raise InvalidRequestError(name, f"cannot read {path}: {error.strerror or error}") from None
        digest = hashlib.sha256(data).hexdigest()
        if expected_sha256 is not None and digest != expected_sha256:
            raise InvalidRequestError(name, f"{path} changed since the run was planned")
        return cls(str(path), digest, decode_picture(data, name, str(path)))


class Pictures:
    """Each input file read once per run (lines that name the same picture share it)."""

    def __init__(self) -> None:
        self._read: dict[Path, Picture] = {}

    def __call__(self, path: Path | None, name: str) -> Picture | None:
        if path is None:
            return None
        if path not in self._read:
            self._read[path] = Picture.read(path, name)
        return self._read[path]


@dataclass(frozen=True)
class ImageJob:
    """One image to render and everything its manifest record says about it."""

    name: str  # file name in the output folder: "<line id>_<index>.png"
    line: int
    line_id: str
    index: int
    request: GenerationRequest
    stages: tuple[dict[str, Any], ...]  # each stage's resolved settings
    model: str
    fingerprint: str = field(default="")
    verdict: SafetyVerdict | None = field(default=None, compare=False)  # set once its line is screened
    pictures: Mapping[str, Picture] = field(default_factory=dict)  # "image", "mask": the line's inputs

    def settings(self) -> dict[str, Any]:
        """Every setting, as JSON: the request as asked, and what each stage runs with."""
        return job_settings(self.request, self.stages, self.model, self.pictures)

    def files(self) -> dict[str, str]:
        """Where its input pictures are read from (`image_file`, `mask_file`): recorded, not
        fingerprinted, so that moving a run's folder does not make its images stale."""
        return {f"{name}_file": picture.file for name, picture in self.pictures.items()}

    def to_row(self) -> str:
        """The job as one JSON string, as it travels to a Ray worker and into the PNG's `render` chunk."""
        return json.dumps(
            {"name": self.name, "line": self.line, "id": self.line_id, "index": self.index}
            | self.settings()
            | self.files()
            | {"fingerprint": self.fingerprint, "verdict": self.verdict and self.verdict.to_dict()}
        )

    @classmethod
    def from_row(cls, row: str) -> ImageJob:
        """The job a row describes, its pictures read again (and checked to be the ones planned)."""
        data = json.loads(row)
        pictures = {
            name: Picture.read(data[f"{name}_file"], name, data[f"{name}_sha256"])
            for name in PICTURES
            if f"{name}_file" in data
        }
        request = GenerationRequest(
            prompt=data["prompt"],
            seed=data["seed"],
            size=data["size"],
            negative_prompt=data["negative_prompt"],
            steps=data["steps"],
            guidance=data["guidance"],
            solver=data["solver"],
            strength=data.get("strength"),
            **{name: picture.image for name, picture in pictures.items()},
        )
        return cls(
            data["name"],
            data["line"],
            data["id"],
            data["index"],
            request,
            tuple(data["stages"]),
            data["model"],
            data["fingerprint"],
            data["verdict"] and SafetyVerdict.from_dict(data["verdict"]),
            pictures,
        )


PICTURES = ("image", "mask")


def job_settings(
    request: GenerationRequest,
    stages: tuple[dict[str, Any], ...],
    model: str,
    pictures: Mapping[str, Picture],
) -> dict[str, Any]:
    """What `ImageJob.settings` returns, before there is a job to fingerprint. A job with input pictures
    adds their sha256 and its strength; one without has the keys it always had, so that the runs
    recorded before pictures existed still resume."""
    settings = {
        "prompt": request.prompt,
        "negative_prompt": request.negative_prompt,
        "seed": request.seed,
        "size": _jsonable(request.size),
        "steps": _jsonable(request.steps),
        "guidance": _jsonable(request.guidance),
        "solver": request.solver,
        "stages": list(stages),
        "model": model,
    }
    if pictures:
        settings["strength"] = request.strength
        settings |= {f"{name}_sha256": picture.sha256 for name, picture in pictures.items()}
    return settings


@dataclass(frozen=True)
class LinePlan:
    line: PromptLine
    jobs: tuple[ImageJob, ...]


def derive_seed(run_seed: int, line_id: str, index: int) -> int:
    """A seed in [0, 2**63) from (run seed, line id, image index) alone."""
    digest = hashlib.sha256(f"{run_seed}\0{line_id}\0{index}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> (64 - SEED_BITS)


def image_name(line_id: str, index: int) -> str:
    """Unique for unique ids: the index is always the digits after the last underscore."""
    return f"{line_id}_{index}.png"


def plan_lines(
    lines: Sequence[PromptLine], settings: RenderSettings, planner: Planner, model: str
) -> tuple[list[LinePlan], list[BadLine]]:
    """Each line's image jobs, or the reason the line is skipped (the field GenerationRequest names)."""
    plans: list[LinePlan] = []
    bad: list[BadLine] = []
    stages = StageRecords(planner)
    pictures = Pictures()
    for line in lines:
        try:
            plans.append(LinePlan(line, tuple(_line_jobs(line, settings, stages, model, pictures))))
        except InvalidRequestError as error:
            bad.append(BadLine(line.line, str(error)))
        except Exception as error:  # whatever else a line can raise, it costs that line only
            bad.append(BadLine(line.line, unreadable(error)))
    return plans, bad


class StageRecords:
    """A request's resolved stages as manifest records, planned once per distinct combination of the
    settings a plan reads (a large prompt file usually has a handful): the plan ignores prompt and seed.
    The records are shared between jobs and never changed."""

    def __init__(self, planner: Planner) -> None:
        self._planner = planner
        self._known: dict[tuple, tuple[dict[str, Any], ...]] = {}

    def __call__(self, request: GenerationRequest) -> tuple[dict[str, Any], ...]:
        key = (
            request.size,
            request.steps,
            request.guidance,
            request.noise_level,
            request.solver,
            request.thresholding,
            request.image is not None,  # img2img and inpainting plan each stage's strength
            request.mask is not None,
            request.strength,
        )
        records = self._known.get(key)
        if records is None:  # an invalid combination raises each time, for each line that asks for it
            records = stage_records(self._planner(request))
            self._known[key] = records
        return records


def check_settings(settings: RenderSettings, planner: Planner) -> None:
    """The run's own settings are valid for this model (InvalidRequestError names the field if not)."""
    _check_count(settings.n)
    planner(
        GenerationRequest(
            prompt="-",
            seed=0,
            size=settings.size,
            negative_prompt=settings.negative_prompt,
            steps=settings.steps,
            guidance=settings.guidance,
            solver=settings.solver,
        )
    )


def _check_count(count: int) -> None:
    if not 1 <= count <= MAX_IMAGES_PER_LINE:
        raise InvalidRequestError(
            "n", f"must be from 1 to {MAX_IMAGES_PER_LINE} images per line, got {count}"
        )


def _line_jobs(
    line: PromptLine, settings: RenderSettings, stages: StageRecords, model: str, pictures: Pictures
) -> list[ImageJob]:
    count = settings.n if line.n is None else line.n
    _check_count(count)
    inputs = {name: pictures(getattr(line, name), name) for name in PICTURES if getattr(line, name)}
    jobs = []
    for index in range(count):
        seed = derive_seed(settings.seed, line.id, index) if line.seed is None else line.seed + index
        request = GenerationRequest(
            prompt=line.prompt,
            seed=seed,
            size=settings.size if line.size is None else line.size,
            negative_prompt=settings.negative_prompt
            if line.negative_prompt is None
            else line.negative_prompt,
            steps=settings.steps if line.steps is None else line.steps,
            guidance=settings.guidance if line.guidance is None else line.guidance,
            solver=settings.solver,
            strength=line.strength,
            **{name: picture.image for name, picture in inputs.items()},
        )
        planned = stages(request)
        name = image_name(line.id, index)
        digest = fingerprint(job_settings(request, planned, model, inputs))
        jobs.append(ImageJob(name, line.line, line.id, index, request, planned, model, digest, None, inputs))
    return jobs


def fingerprint(settings: dict[str, Any]) -> str:
    """A hash of every setting that decides an image's pixels."""
    canonical = json.dumps(settings, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


LineJobs = tuple[LinePlan, list[ImageJob]]  # a line and those of its jobs still to render


def batch_order(lines: Sequence[LineJobs]) -> list[LineJobs]:
    """Lines whose jobs share stages, step counts and guidance next to each other, so batches fill
    evenly and leave together; input order within a group (the sort is stable). A line's jobs differ
    only in their seeds, so its first job stands for all of them."""

    def key(item: LineJobs) -> tuple:
        stages = item[1][0].stages
        return (len(stages), *((s["steps"], s["guidance"] > 1.0, s["solver"]) for s in stages))

    return sorted(lines, key=key)


def _jsonable(value: object) -> object:
    return list(value) if isinstance(value, tuple) else value
