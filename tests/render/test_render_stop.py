"""One Ctrl-C stops a render cleanly in any phase: reading, loading, screening, rendering. No traceback,
exit 130, finished images stay whole and recorded, and a rerun completes the run."""

from __future__ import annotations

import signal

import pytest

from cascade.options import ModelOptions
from cascade.render import cli as cli_module
from cascade.render import read_records
from cascade.render.__main__ import main
from tests.render.render_helpers import PROMPTS, MarkerFilter, pngs, write_lines


def ctrl_c() -> None:
    signal.raise_signal(signal.SIGINT)


@pytest.fixture(autouse=True)
def interactive_sigint():
    """Ctrl-C as a terminal delivers it: Python's KeyboardInterrupt handler. A process started in the
    background by a non-interactive shell (`pytest ... &`) inherits SIGINT ignored, and Python then
    installs no handler, so the reading phase, which adds none of its own, would never see the signal."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


class CtrlCFilter(MarkerFilter):
    """Presses Ctrl-C while screening line `at` (1-based, in the order lines are screened)."""

    def __init__(self, at: int) -> None:
        super().__init__()
        self.at = at

    def check(self, prompt):
        verdict = super().check(prompt)
        if len(self.checked) == self.at:
            ctrl_c()
        return verdict


@pytest.fixture()
def command(tmp_path, own_folder):
    prompts = write_lines(tmp_path / "p.txt", PROMPTS)
    return [str(prompts), "--out", str(tmp_path / "out"), "--model", str(own_folder), "--size", "16",
            "--steps", "2", "--batch-size", "1", "--no-progress"]  # fmt: skip


def test_ctrl_c_while_reading_the_prompt_file_exits_130_without_a_traceback(command, monkeypatch, capsys):
    real = cli_module.read_prompts

    def read_prompts(path):
        ctrl_c()
        return real(path)

    monkeypatch.setattr(cli_module, "read_prompts", read_prompts)
    assert main(command) == 130
    err = capsys.readouterr().err
    assert "interrupted" in err and "Traceback" not in err


def test_ctrl_c_while_the_model_loads_exits_130_and_a_rerun_completes(tmp_path, command, monkeypatch, capsys):
    real = ModelOptions.load

    def load(self, **kwargs):
        ctrl_c()
        return real(self, **kwargs)

    monkeypatch.setattr(ModelOptions, "load", load)
    assert main(command) == 130
    assert pngs(tmp_path / "out") == {}
    monkeypatch.undo()
    assert main(command) == 0
    assert len(pngs(tmp_path / "out")) == len(PROMPTS)


def test_ctrl_c_before_any_job_is_out_stops_at_once(tmp_path, render):
    prompts = write_lines(tmp_path / "p.txt", PROMPTS)
    summary = render(prompts, tmp_path / "out", checker=CtrlCFilter(at=1), size=16, steps=2)
    assert (summary.interrupted, summary.exit_code, summary.rendered) == (True, 130, 0)


def test_ctrl_c_while_screening_mid_run_finishes_the_batch_in_flight_and_a_rerun_completes(tmp_path, render):
    prompts = write_lines(tmp_path / "p.txt", PROMPTS)
    out = tmp_path / "out"
    checker = CtrlCFilter(at=3)
    summary = render(prompts, out, batch_size=1, checker=checker, size=16, steps=2)
    assert (summary.interrupted, summary.exit_code) == (True, 130)
    assert len(checker.checked) == 3  # screening stopped with the Ctrl-C
    done = [r["file"] for r in read_records(out) if r["type"] == "image"]
    assert 0 < len(done) < len(PROMPTS) and sorted(done) == sorted(pngs(out))

    summary = render(prompts, out, batch_size=1, checker=MarkerFilter(), size=16, steps=2)
    assert (summary.exit_code, summary.skipped + summary.rendered) == (0, len(PROMPTS))
