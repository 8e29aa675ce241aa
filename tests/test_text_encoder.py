"""The frozen text encoder: truncation is reported, repeated prompts skip the encoder."""

from __future__ import annotations

import pytest
import torch

from cascade.text_encoder import TextEncoder


@pytest.fixture()
def encoder(if_folders):
    folder = if_folders["stage_I"]
    return TextEncoder.from_pretrained(
        folder / "text_encoder", folder / "tokenizer", max_length=8, cache_size=2
    )


def test_long_prompt_is_truncated_and_says_so(encoder):
    short, long = encoder.encode(["a red star", "a red star above a blue ring on the left of a green heart"])
    assert not short.truncated and long.truncated
    assert short.tokens.shape == long.tokens.shape == (8, encoder.width)
    assert short.mask.tolist()[:5] == [1, 1, 1, 1, 0] and long.mask.all()


def test_repeated_prompts_are_served_from_cache(encoder):
    first = encoder.encode(["a red star", "a blue ring", "a red star"])
    assert encoder.encoder_calls == 1
    again = encoder.encode(["a blue ring"])
    assert encoder.encoder_calls == 1 and again[0] is first[1]


def test_cache_is_bounded_least_recently_used_first(encoder):
    encoder.encode(["a red star"])
    encoder.encode(["a blue ring"])
    encoder.encode(["a red star"])  # refresh: now "a blue ring" is the oldest
    encoder.encode(["a green heart"])
    calls = encoder.encoder_calls
    encoder.encode(["a red star"])
    assert encoder.encoder_calls == calls
    encoder.encode(["a blue ring"])
    assert encoder.encoder_calls == calls + 1


def test_encoder_is_frozen(encoder):
    assert not any(p.requires_grad for p in encoder.model.parameters())
    assert not encoder.encode(["a red star"])[0].tokens.requires_grad
    assert encoder.encode(["x"])[0].tokens.dtype == torch.float32


def test_a_batch_larger_than_the_cache_still_gets_its_cached_prompts(encoder):
    """New prompts evict old entries; a batch's own hits must survive that (training batches do this)."""
    cached = encoder.encode(["a red star", "a blue ring"])
    batch = encoder.encode(["a red star", "a green heart", "a pink cross", "a blue ring"])
    assert batch[0] is cached[0] and batch[3] is cached[1]
    assert len(encoder._cache) == 2
