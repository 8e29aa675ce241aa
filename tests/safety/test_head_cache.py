"""The semantic layer's fitted head is reused from disk only for exactly the same inputs."""

from __future__ import annotations

import torch

from safety.head_cache import cached_head


def fitting(calls: list[int], value: float):
    def fit():
        calls.append(1)
        return torch.full((2, 3), value), torch.full((2,), value)

    return fit


def test_a_second_load_reads_the_stored_head_instead_of_fitting(tmp_path, monkeypatch):
    monkeypatch.setenv("CASCADE_CACHE", str(tmp_path))
    calls: list[int] = []
    first = cached_head([b"exemplars", b"encoder"], fitting(calls, 1.0))
    second = cached_head([b"exemplars", b"encoder"], fitting(calls, 2.0))
    assert len(calls) == 1
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))


def test_changed_inputs_fit_afresh(tmp_path, monkeypatch):
    monkeypatch.setenv("CASCADE_CACHE", str(tmp_path))
    calls: list[int] = []
    cached_head([b"exemplars", b"encoder"], fitting(calls, 1.0))
    weight, _ = cached_head([b"exemplars, edited", b"encoder"], fitting(calls, 2.0))
    assert len(calls) == 2 and weight[0, 0] == 2.0


def test_a_damaged_or_unwritable_cache_only_costs_a_refit(tmp_path, monkeypatch):
    monkeypatch.setenv("CASCADE_CACHE", str(tmp_path))
    calls: list[int] = []
    cached_head([b"a"], fitting(calls, 1.0))
    for stored in tmp_path.iterdir():
        stored.write_bytes(b"not safetensors")
    assert cached_head([b"a"], fitting(calls, 3.0))[0][0, 0] == 3.0
    blocked = tmp_path / "file"
    blocked.write_text("")
    monkeypatch.setenv("CASCADE_CACHE", str(blocked / "sub"))  # a file where a folder should be
    assert cached_head([b"b"], fitting(calls, 4.0))[1][0] == 4.0
    assert len(calls) == 3
