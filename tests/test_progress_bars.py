"""`Cascade.run`'s progress bars: one per stage, named as a user names stages, counting the steps of the
stage's batch and saying how many images it holds."""

from __future__ import annotations

import re

import pytest

from cascade.pipeline import stage_label, step_boundaries

ESCAPES = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def final_lines(stderr: str) -> list[str]:
    """The last state each bar printed: tqdm redraws a line after a carriage return."""
    states = [ESCAPES.sub("", part).strip() for part in re.split(r"[\r\n]", stderr)]
    last: dict[str, str] = {}
    for state in filter(None, states):
        last[state.split(":")[0]] = state
    return list(last.values())


def test_stages_are_named_by_their_place_in_the_cascade_and_their_size():
    assert [stage_label(d, r) for d, r in ((0, 64), (1, 256), (2, 1024))] == [
        "stage I (64 px)",
        "stage II (256 px)",
        "stage III (1024 px)",
    ]


def test_a_batch_of_two_images_at_four_steps_is_four_steps_not_eight(served_cascade, capsys):
    served_cascade.generate(["a red star", "a blue ring"], seed=1, size=32, steps=4)
    lines = final_lines(capsys.readouterr().err)
    assert [line.split(":")[0] for line in lines] == ["stage I (16 px)", "stage II (32 px)"]
    for line in lines:
        assert " 4/4 " in line and "100%" in line, line
        assert line.endswith(", batch of 2 images]"), line


def test_more_images_than_a_batch_count_every_batch_and_the_images_done(served_cascade, capsys, monkeypatch):
    monkeypatch.setattr(served_cascade, "max_batch_size", 2)
    served_cascade.generate(["a red star", "a blue ring", "a green heart"], seed=1, size=16, steps=3)
    [line] = final_lines(capsys.readouterr().err)
    assert line.startswith("stage I (16 px): 100%"), line
    assert " 6/6 " in line and "batch of 1 image, 3/3 done" in line, line


def test_no_bars_without_progress(served_cascade, capsys):
    served_cascade.generate("a red star", seed=1, size=16, steps=2, progress=False)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    ("running", "queued", "slots", "steps"),
    [
        ((), (50, 50), 8, 50),  # one batch
        ((), (50,) * 20, 8, 150),  # three batches
        ((3,), (10,), 1, 13),  # the queued one waits for the slot
        ((3,), (10,), 2, 10),  # ... or joins at once
        ((2, 5), (4, 4), 2, 9),  # joins as slots free
    ],
)
def test_step_boundaries_follow_fifo_admission_into_free_slots(running, queued, slots, steps):
    assert step_boundaries(running, queued, slots) == steps
