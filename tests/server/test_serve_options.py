"""`cascade serve` options build the same typed config as the Python API, with loopback as the default."""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from server.auth import KEYS_ENV
from server.cli import add_arguments, config_from_args
from server.config import RateLimit, ServerConfig

ROOT = Path(__file__).resolve().parents[2]


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


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--max-batch-size", "0"], "--max-batch-size: must be at least 1"),
        (["--rate-limit", "-5"], "--rate-limit: must be a number above 0"),
        (["--url-ttl", "-1"], "--url-ttl: must be a number above 0"),
        (["--header-timeout", "nan"], "--header-timeout: must be a number above 0"),
        (["--max-connections", "x"], "--max-connections: expected an integer"),
    ],
)
def test_options_that_cannot_work_are_argparse_errors(argv, says, capsys):
    with pytest.raises(SystemExit) as stop:
        parse(*argv)
    assert stop.value.code == 2 and says in capsys.readouterr().err


def serve_process(*argv: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "server", "--log-level", "warning", *argv]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_inconsistent_limits_end_in_one_line_and_exit_2_before_loading(tmp_path):
    answer = serve_process("--model", str(tmp_path / "absent"), "--max-images", "9", "--max-queue", "4")
    assert answer.returncode == 2
    assert answer.stderr.strip().splitlines() == [
        "cascade serve: error: max_images (9) cannot exceed max_queue (4)"
    ]


def test_a_busy_port_is_found_before_the_model_loads(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # A model folder that does not exist: had it been loaded first, the error would name it.
        answer = serve_process("--model", str(tmp_path / "absent"), "--port", str(port))
    assert answer.returncode == 2
    assert (
        answer.stderr.strip()
        == f"cascade serve: error: cannot listen on 127.0.0.1:{port}: Address already in use"
    )
