"""Fixtures for batch rendering: the tiny own-format cascade loaded as rendering loads it, and an
in-process `render` that runs a prompt file through the engine as `cascade render` does."""

from __future__ import annotations

from pathlib import Path

import pytest

from cascade import ModelOptions
from cascade.render import RenderSettings, plan_lines, read_prompts, render_local, render_plans
from cascade.render.defaults import DEFAULT_FORWARD_ROWS


@pytest.fixture(scope="session")
def render_cascade(own_folder):
    return ModelOptions(own_folder, device="cpu", forward_rows=DEFAULT_FORWARD_ROWS).load()


@pytest.fixture()
def render(own_folder, render_cascade):
    """Render a prompt file in-process through the engine, as `cascade render` does."""

    def run(prompts: Path, out: Path, *, batch_size: int = 4, checker=None, **settings):
        overwrite = settings.pop("overwrite", False)
        grid = settings.pop("grid", 0)
        lines, bad = read_prompts(prompts)
        plans, invalid = plan_lines(
            lines, RenderSettings(**settings), render_cascade.plan, str(own_folder.resolve())
        )
        summary = render_plans(
            plans,
            out,
            lambda jobs, stop: render_local(render_cascade, jobs, batch_size=batch_size, stop=stop),
            checker or render_cascade.safeguards,
            overwrite=overwrite,
            grid=grid,
            progress=False,
            report=lambda message: None,
        )
        summary.malformed = len(bad) + len(invalid)
        return summary

    return run
