"""`cascade serve` options build the same typed config as the Python API, with loopback as the default."""

from __future__ import annotations

import argparse

from server.auth import KEYS_ENV
from server.cli import add_arguments, config_from_args
from server.config import RateLimit, ServerConfig


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


def test_defaults_bind_loopback_and_equal_the_documented_config(monkeypatch):
    monkeypatch.delenv(KEYS_ENV, raising=False)
    args = parse("--model", "m")
    assert (args.host, args.port) == ("127.0.0.1", 8000)
    assert config_from_args(args) == ServerConfig()


def test_keys_limits_and_rate_limit_reach_the_config(tmp_path):
    keys = tmp_path / "keys"
    keys.write_text("k1\n")
    args = parse("--api-keys-file", str(keys), "--rate-limit", "30", "--max-queue", "9", "--max-images", "2")
    config = config_from_args(args)
    assert config.api_keys.identify("k1") and config.rate_limit == RateLimit(30, 30)
    assert (config.engine.max_queue, config.max_images) == (9, 2)


def test_keys_can_come_from_the_environment(monkeypatch):
    monkeypatch.setenv(KEYS_ENV, "from-env")
    assert config_from_args(parse()).api_keys.identify("from-env")
