"""The one step loop every generation path drives: `Cascade.run` inline, the server and rendering on a
worker thread (`BatchingEngine`).

Each stage has a FIFO of waiting requests and a running batch. At every step boundary the
`SchedulingPolicy` picks a stage, waiting requests join its free slots (their prompts embedded in one
encoder call), and the stage advances all its running requests by one step in one U-Net forward, each
at its own timestep, guidance and solver. A request leaves as soon as its own steps are done and queues
for the next stage; after its last stage its image is checked and watermarked and it completes.
Requests arrive here already screened: each carries the verdict it was admitted on.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Protocol

import PIL.Image
import torch

from cascade.engine.config import EngineConfig
from cascade.engine.handle import Completed, Failed, RequestHandle, StagePreview, StageProgress
from cascade.engine.isolation import isolate
from cascade.engine.metrics import EngineMetrics
from cascade.engine.scheduler import SchedulingPolicy, StageLoad
from cascade.errors import InvalidRequestError
from cascade.images import mask_tensor, picture_tensor
from cascade.planning import StagePlan, first_stage, plan_request, stage_shapes, starts_from_picture
from cascade.request import GenerationRequest, GenerationResult
from cascade.stages import Stage, StageJob, StageSettings, StageSpec
from cascade.text_encoder import TextEmbedding
from safety.verdict import SafetyVerdict

logger = logging.getLogger(__name__)


class Model(Protocol):
    """What the loop needs of a loaded cascade (`cascade.pipeline.Cascade`)."""

    stages: list[Stage]

    def embed(
        self, stage: Stage, requests: Sequence[GenerationRequest], settings: Sequence[StageSettings]
    ) -> tuple[list[TextEmbedding], list[TextEmbedding | None]]: ...

    def finish_image(self, image: torch.Tensor) -> PIL.Image.Image: ...


@dataclass(eq=False)
class Work:
    """A request inside the engine: where it is in its plan and what it carries between stages."""

    handle: RequestHandle
    plan: StagePlan
    generator: torch.Generator
    accepted_at: float
    deadline: float | None
    cost: list[int]  # memory rows per stage index (0 where it skips the stage)
    first: int = 0  # the stage its plan starts at: 0, or a super-resolution stage for an upscale
    depth: int = 0  # rows of its plan done
    image: torch.Tensor | None = None
    pictures: list[torch.Tensor | None] = field(default_factory=list)  # img2img start per plan row
    masks: list[torch.Tensor | None] = field(default_factory=list)  # inpainting mask per plan row
    job: StageJob | None = None
    entered_stage_at: float = 0.0
    truncated: bool = False
    verdict: SafetyVerdict | None = None  # set once the prompt is screened; `add` requires it

    @property
    def settings(self) -> StageSettings:
        return self.plan[self.depth][1]

    @property
    def stage(self) -> int:
        """The index of the stage it is at (or queued for)."""
        return self.first + self.depth

    def runs(self, stage: int) -> bool:
        return self.first <= stage < self.first + len(self.plan)


@dataclass(frozen=True)
class StepPreview(StagePreview):
    """A preview of a stage under way: its x0 prediction after `step` steps (`EngineConfig.preview_every`).
    Its plain `StagePreview` parent is the stage's finished image."""

    step: int = 0


@dataclass(frozen=True)
class Stepped:
    """What one step boundary did: which stage stepped, and how many requests it advanced."""

    stage: int
    requests: int


class EngineLoop:
    """Step-level batching over a model's stages; single-threaded: its owner calls `step`."""

    def __init__(
        self,
        model: Model,
        config: EngineConfig,
        metrics: EngineMetrics | None = None,
        on_finished: Callable[[Work], None] | None = None,
    ) -> None:
        self.model = model
        self.config = config
        self.metrics = metrics or EngineMetrics()
        self.on_finished = on_finished or (lambda work: None)
        count = len(model.stages)
        self.policy = SchedulingPolicy([config.max_batch_size] * count, config.memory_budget)
        self.waiting: list[deque[Work]] = [deque() for _ in range(count)]
        self.running: list[list[Work]] = [[] for _ in range(count)]

    @property
    def specs(self) -> list[StageSpec]:
        return [stage.spec for stage in self.model.stages]

    def prepare(self, request: GenerationRequest, handle: RequestHandle) -> Work:
        """Plan one request and build its state; raises if it can never run. Screening comes next."""
        plan = plan_request(self.specs, request)
        first = first_stage(self.specs, request)
        shapes = stage_shapes(self.specs, request)  # (width, height) per stage index
        cost = [0] * first + [row_cost(spec, settings) for spec, settings in plan]  # per stage index
        if not self.policy.fits_alone(max(cost)):
            raise InvalidRequestError(
                "size", "this size and guidance exceed the server's memory budget; ask for a smaller size"
            )
        now = time.monotonic()
        timeout = self.config.request_timeout_s
        generator = torch.Generator("cpu").manual_seed(request.seed)
        deadline = None if timeout is None else now + timeout
        # resized here, on the caller's thread, not in the step loop where every running request waits
        pictures = [
            picture_tensor(request.image, shapes[first + row]) if starts_from_picture(spec, request) else None
            for row, (spec, _) in enumerate(plan)
        ]
        masks = (
            [
                mask_tensor(request.mask, shapes[first + row]) if picture is not None else None
                for row, picture in enumerate(pictures)
            ]
            if request.mask is not None
            else [None] * len(plan)
        )
        # an upscale's picture is the low-res input of its first stage: in the stage before's shape
        start = picture_tensor(request.image, shapes[first - 1]) if request.upscale else None
        return Work(
            handle,
            plan,
            generator,
            now,
            deadline,
            cost,
            first,
            image=start,
            pictures=pictures,
            masks=masks,
            entered_stage_at=now,
        )

    def add(self, work: Work) -> None:
        """Queue a prepared request for its first stage: only with the verdict that allowed its prompt."""
        if work.verdict is None or not work.verdict.allowed:
            raise ValueError("only requests whose prompt was screened and allowed may enter the engine")
        self.waiting[work.first].append(work)

    @property
    def has_work(self) -> bool:
        return any(load.has_work for load in self.loads())

    def loads(self) -> list[StageLoad]:
        return [
            StageLoad(len(running), tuple(w.cost[index] for w in waiting))
            for index, (running, waiting) in enumerate(zip(self.running, self.waiting, strict=True))
        ]

    def running_batch_sizes(self) -> dict[str, int]:
        return {spec.name: len(running) for spec, running in zip(self.specs, self.running, strict=True)}

    def step(self) -> Stepped | None:
        """One step boundary: drop cancelled and late requests, admit into the chosen stage, step it."""
        index = self.policy.choose_stage(self.loads())
        if index is None:
            return None
        self._reap()
        self._admit(index)
        return Stepped(index, self._step(index))

    def _reap(self) -> None:
        now = time.monotonic()
        for index in range(len(self.running)):
            for group in (self.waiting[index], self.running[index]):
                for work in [w for w in group if w.handle.cancelled or (w.deadline and now > w.deadline)]:
                    group.remove(work)
                    if work.handle.cancelled:
                        self._fail(work, "cancelled", "the request was cancelled")
                    else:
                        limit = self.config.request_timeout_s
                        self._fail(work, "timeout", f"the request did not finish in {limit} s")

    def _admit(self, index: int) -> None:
        memory_in_use = sum(w.cost[w.stage] for running in self.running for w in running)
        count = self.policy.admissions(index, self.loads()[index], memory_in_use)
        joining = [self.waiting[index].popleft() for _ in range(count)]
        if not joining:
            return
        stage = self.model.stages[index]
        embedded: list[tuple[Work, TextEmbedding, TextEmbedding | None]] = []

        def embed(works: list[Work]) -> None:
            conds, unconds = self.model.embed(
                stage, [w.handle.request for w in works], [w.settings for w in works]
            )
            embedded.extend(zip(works, conds, unconds, strict=True))

        def fail(work: Work, error: Exception) -> None:
            logger.error("text encoding failed for one request", exc_info=error)
            self._fail(work, "internal", "text encoding failed for this request", error)

        isolate(joining, embed, fail, on_retry=partial(warn_retry, "text encoding"))
        now = time.monotonic()
        for work, cond, uncond in embedded:  # in joining order: the halves are tried in order
            if work.depth == 0:
                self.metrics.observe_queue_wait(now - work.accepted_at)
            work.truncated = work.truncated or cond.truncated
            try:
                picture, mask = work.pictures[work.depth], work.masks[work.depth]
                work.job = stage.start(
                    work.settings, work.generator, cond, uncond, work.image, work, picture, mask
                )
                if self._step_previews(stage, work):
                    work.job.solver = RecordingSolver(work.job.solver)
            except Exception as error:
                logger.exception("stage %s failed to start a request", stage.spec.name)
                self._fail(work, "internal", "the model failed on this request", error)
                continue
            self.running[index].append(work)

    def _step(self, index: int) -> int:
        running = self.running[index]
        if not running:
            return 0
        stage = self.model.stages[index]
        self.metrics.observe_batch_size(stage.spec.name, len(running))
        stepped = len(running)
        self._step_isolating(index, list(running))
        for work in list(running):
            job = work.job
            if work.handle.progress:
                progress = StageProgress(
                    stage.spec.name, stage.spec.resolution, job.steps_done, job.steps_total
                )
                work.handle.emit(progress)
            every = self.config.preview_every
            if isinstance(job.solver, RecordingSolver) and not job.done and job.steps_done % every == 0:
                self._preview_step(stage, work)
            if job.done:
                running.remove(work)
                self._leave_stage(index, work)
        return stepped

    def _step_isolating(self, index: int, works: list[Work]) -> None:
        """One step for `works`; a failed batch is retried in halves, so only a request that fails alone
        fails. Out of device memory the stage's batch limit shrinks too, and a request that does not fit
        alone fails as too large."""
        stage = self.model.stages[index]
        before = {id(w): w.job.step_index for w in works}

        def unstepped(group: list[Work]) -> list[Work]:  # a failed call may have advanced some jobs
            return [w for w in group if w.job.step_index == before[id(w)]]

        def retry(group: list[Work], error: Exception) -> None:
            if isinstance(error, torch.OutOfMemoryError):
                self._release_device_memory()
                self.policy.shrink_batch(index, len(group))
            else:
                warn_retry(f"stage {stage.spec.name}", group, error)

        def fail(work: Work, error: Exception) -> None:
            self.running[index].remove(work)
            if isinstance(error, torch.OutOfMemoryError):
                self._release_device_memory()
                message = f"stage {stage.spec.name} does not fit in device memory"
                self._fail(work, "too_large", message, error)
                return
            logger.error("stage %s failed a step of one request", stage.spec.name, exc_info=error)
            self._fail(work, "internal", "the model failed on this request", error)

        isolate(
            works,
            lambda group: stage.step([w.job for w in group]),
            fail,
            unfinished=unstepped,
            on_retry=retry,
        )

    def _step_previews(self, stage: Stage, work: Work) -> bool:
        """Whether `work` gets a preview every `preview_every` steps of `stage`: only a pixel-space stage's
        x0 is an image (a latent stage's would need its VAE decode each time)."""
        wanted = self.config.previews and self.config.preview_every > 0 and work.handle.progress
        return wanted and stage.samples_pixels

    def _preview_step(self, stage: Stage, work: Work) -> None:
        """The x0 predicted at this step, checked and watermarked like every image that leaves."""
        x0 = work.job.solver.x0
        try:
            image = self.model.finish_image(x0[:, : work.job.sample.shape[1]])
        except Exception:  # a preview is a courtesy: the stage's own finish still checks the request
            logger.exception("stage %s failed to preview a step", stage.spec.name)
            return
        work.handle.emit(StepPreview(stage.spec.name, stage.spec.resolution, image, work.job.steps_done))

    @staticmethod
    def _release_device_memory() -> None:
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def _leave_stage(self, index: int, work: Work) -> None:
        """A request's stage is done: preview it, then queue it for the next stage or complete it.

        Every image that leaves the engine, preview or final, goes through `finish_image` (output
        check and watermark), so no path can send an unmarked image out.
        """
        stage = self.model.stages[index]
        try:
            work.image = stage.finish(work.job)
            if not torch.isfinite(work.image).all():
                message = f"stage {stage.spec.name} produced non-finite pixels for this request"
                self._fail(work, "non_finite", message)
                return
            last = work.depth + 1 == len(work.plan)
            preview = self.config.previews and work.handle.progress
            image = self.model.finish_image(work.image) if last or preview else None
        except Exception as error:
            logger.exception("stage %s failed to finish a request", stage.spec.name)
            self._fail(work, "internal", "the model failed on this request", error)
            return
        work.job = None
        now = time.monotonic()
        self.metrics.observe_stage_latency(stage.spec.name, now - work.entered_stage_at)
        work.depth += 1
        work.entered_stage_at = now
        request = work.handle.request
        if last:  # before the preview goes out: the last preview and the result are one image
            image.info.update(seed=str(request.seed), prompt_truncated=str(work.truncated))
        if preview:
            work.handle.emit(StagePreview(stage.spec.name, stage.spec.resolution, image))
        if not last:
            self.waiting[work.stage].append(work)
            return
        result = GenerationResult(request, image, work.truncated, work.verdict)
        self._finish(work, Completed(result), "completed")
        self.metrics.count_images(1)

    def _fail(self, work: Work, code: str, message: str, cause: BaseException | None = None) -> None:
        self._finish(work, Failed(message, code, cause), code)

    def _finish(self, work: Work, event: Completed | Failed, outcome: str) -> None:
        work.handle.emit(event)
        self.metrics.count_request(outcome)
        self.on_finished(work)


class RecordingSolver:
    """A request's solver that keeps the x0 its stage last stepped with, for per-step previews.

    The stage hands its solver the guided, thresholded x0 prediction (docs/ENGINE.md), so remembering
    that argument costs nothing; everything else is the wrapped solver's.
    """

    def __init__(self, solver) -> None:
        self.solver = solver
        self.x0: torch.Tensor | None = None

    def step(self, model_output: torch.Tensor, *args, **kwargs):
        self.x0 = model_output
        return self.solver.step(model_output, *args, **kwargs)

    def __getattr__(self, name: str):
        return getattr(self.solver, name)


def row_cost(spec: StageSpec, settings: StageSettings) -> int:
    """Memory proxy of one request in a stage: pixels per forward row, times two rows under guidance."""
    rows = 2 if settings.guidance > 1.0 else 1
    return rows * settings.width * settings.height


def warn_retry(what: str, group: list[Work], error: Exception) -> None:
    logger.warning("%s failed for a batch of %d (%s); retrying its requests apart", what, len(group), error)
