"""The store behind response_format=url: unguessable tokens that expire, and bounded memory."""

from __future__ import annotations

from server.images_store import ImageStore


def test_image_is_served_until_it_expires():
    now = [0.0]
    store = ImageStore(ttl_s=60, max_bytes=1000, clock=lambda: now[0])
    token = store.put(b"png")
    now[0] = 59.9
    assert store.get(token) == b"png"
    now[0] = 60.0
    assert store.get(token) is None


def test_tokens_are_unguessable_and_unknown_ones_find_nothing():
    store = ImageStore(ttl_s=60, max_bytes=1000)
    tokens = {store.put(b"x") for _ in range(100)}
    assert len(tokens) == 100 and all(len(t) >= 32 for t in tokens)
    assert store.get("guess") is None


def test_oldest_images_go_first_beyond_the_memory_bound():
    store = ImageStore(ttl_s=60, max_bytes=10)
    first, second, third = store.put(b"aaaa"), store.put(b"bbbb"), store.put(b"cccc")
    assert store.get(first) is None and store.get(second) == b"bbbb" and store.get(third) == b"cccc"
