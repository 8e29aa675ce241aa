"""API keys held only as digests and compared in constant time; a token bucket per client."""

from __future__ import annotations

import hashlib

import pytest

from server.auth import KEYS_ENV, KeyStore, RateLimiter, hash_key


def test_plain_and_hashed_entries_are_both_kept_only_as_digests():
    store = KeyStore.from_entries(["# a comment", "", "  plain-key  ", hash_key("other-key")])
    assert store.digests == (hashlib.sha256(b"plain-key").digest(), hashlib.sha256(b"other-key").digest())
    assert store.identify("plain-key") and store.identify("other-key")
    assert store.identify("plain-key ") is None and store.identify("") is None


def test_key_id_is_stable_and_does_not_reveal_the_key():
    store = KeyStore.from_entries(["s3cret-key"])
    identity = store.identify("s3cret-key")
    assert identity == store.identify("s3cret-key") and "s3cret" not in identity


def test_keys_come_from_a_file_or_the_environment(tmp_path):
    path = tmp_path / "keys"
    path.write_text("one\ntwo\n")
    assert KeyStore.from_file(path).identify("two")
    assert KeyStore.from_env({KEYS_ENV: "one, two"}).identify("two")
    assert KeyStore.from_env({}) is None


@pytest.mark.parametrize("entries", [[], ["# only a comment"], ["sha256:abc"]])
def test_empty_or_malformed_key_lists_are_refused(entries):
    with pytest.raises(ValueError):
        KeyStore.from_entries(entries)


def test_bucket_allows_a_burst_then_says_when_the_next_token_is_back():
    now = [0.0]
    limiter = RateLimiter(per_minute=6, burst=2, clock=lambda: now[0])  # one token per 10 s
    assert [limiter.take("a"), limiter.take("a")] == [0.0, 0.0]
    assert limiter.take("a") == pytest.approx(10.0)
    assert limiter.take("b") == 0.0  # buckets are per client
    now[0] = 4.0
    assert limiter.take("a") == pytest.approx(6.0)
    now[0] = 10.0
    assert limiter.take("a") == 0.0
    now[0] = 1000.0  # refills up to the burst, no further
    assert [limiter.take("a") for _ in range(3)][2] > 0
