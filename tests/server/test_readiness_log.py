"""The server says when it is ready, once, with what it serves and where; and why it is not, when the model
cannot load."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from pathlib import Path

from tests.server.live_server import wait_until
from tests.server.test_shutdown import ROOT, free_port

READY = "ready: model model (sizes 16x16, 32x32, 64x64; default 16x16) on cpu, accepting requests at {url}"


def messages(caplog, level: int = logging.INFO) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name.startswith("server") and r.levelno >= level]


def test_the_ready_line_comes_once_the_model_is_in_and_not_before(serve, served_cascade, caplog):
    caplog.set_level(logging.INFO, logger="server")
    release = threading.Event()

    def slow_load():
        release.wait(60)
        return served_cascade

    server = serve(model=slow_load, wait_ready=False)
    assert server.server.started and not any(m.startswith("ready:") for m in messages(caplog))
    release.set()
    wait_until(lambda: READY.format(url=server.url) in messages(caplog), what="the ready line")
    assert sum(m.startswith("ready:") for m in messages(caplog)) == 1


def test_a_model_that_fails_to_load_is_one_error_line_naming_the_cause(serve, caplog):
    caplog.set_level(logging.INFO, logger="server")

    def broken_load():
        raise OSError("no such model folder: /nowhere")

    server = serve(model=broken_load, wait_ready=False)
    cause = "OSError: no such model folder: /nowhere"
    expected = f"not serving: the model failed to load ({cause}); exiting with status 1"
    wait_until(lambda: expected in messages(caplog, logging.ERROR), what="the error line")
    server.thread.join(60)
    assert not server.thread.is_alive()
    assert not any(m.startswith("ready:") for m in messages(caplog))


def serve_process(model, tmp_path) -> tuple[subprocess.Popen, str, Path]:
    """`python -m server` at its default log level (info), its stdout and stderr in a file."""
    port = free_port()
    log = tmp_path / "server.log"
    command = [sys.executable, "-m", "server", "--model", str(model), "--port", str(port)]
    with log.open("w") as sink:
        process = subprocess.Popen(command, cwd=ROOT, stdout=sink, stderr=sink)
    return process, f"http://127.0.0.1:{port}", log


def test_cascade_serve_logs_the_ready_line_on_stderr(own_folder, tmp_path):
    process, url, log = serve_process(own_folder, tmp_path)
    try:
        wait_until(lambda: "ready:" in log.read_text() or process.poll() is not None, 120, "the ready line")
        assert process.poll() is None, log.read_text()
        line = next(line for line in log.read_text().splitlines() if "ready:" in line)
        assert " INFO server.http_server " in line and line.endswith(READY.format(url=url))
    finally:
        process.kill()
        process.wait()


def test_cascade_serve_with_a_model_that_cannot_load_says_so_and_exits_1(tmp_path):
    (tmp_path / "empty").mkdir()
    process, _, log = serve_process(tmp_path / "empty", tmp_path)
    assert process.wait(timeout=120) == 1
    errors = [line for line in log.read_text().splitlines() if " ERROR " in line]
    assert errors and "not serving: the model failed to load (" in errors[0]
    assert str(tmp_path / "empty") in errors[0] and errors[0].endswith("; exiting with status 1")
