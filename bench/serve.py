"""Images/s and latency of `cascade serve` under concurrent clients, against the server a user would write.

Two servers of the same DeepFloyd IF-format weights (stage I and stage II folders as diffusers saves
them), given the same prompts, seeds and settings, measured in one run:

- `diffusers server` (the baseline): a FastAPI endpoint that runs diffusers' `IFPipeline` and
  `IFSuperResolutionPipeline` for each request, one request at a time under a lock;
- `cascade serve`: our server (continuous step-level batching across requests).

Both run as subprocesses on loopback, alive together, and get the same OpenAI-style request. Each
client is a thread here that posts its next request as soon as its last one is answered. Every row
(client count) runs in `--rounds` turns per server, alternating which goes first, `--seconds` per
server in all: on this shared 2-core machine a run's speed drifts by 10-20% over minutes, more than
the difference being measured at 1 client. No prompt repeats within a run (our server's embedding
cache never hits); within a turn both servers get the same requests. Model loading and one warm-up
request are outside every timing; PNG encoding is inside both. Our server also pays for its prompt
filter (the baseline has none); the watermark skips images under 256 px.
Tiny random-weight IF folders are built in a temporary folder unless --stage-I/--stage-II are given.

    python bench/serve.py [--seconds 20] [--clients 1,4,16] [--steps 20,10]

With `--ray` the two servers are `cascade serve` and `cascade serve --ray --replicas 1` (Ray Serve on a
loopback Ray instance, the same model and engine behind Ray's proxy and router), and the table adds what
Ray Serve costs a request: the difference of the p50 latencies, in ms (target: under 10 ms at 1 client),
and, for every run, the p50 of a call with no model work (`GET /v1/models`, the servers again taking turns),
where that cost stands alone.

    python bench/serve.py --ray --clients 1 --steps 2,1 --seconds 30
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import io
import itertools
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import torch
from tiny import tiny_models

ROOT = Path(__file__).resolve().parents[1]
TURN_REQUESTS = 1_000_000  # request numbers per turn: far more than a turn can send
WORDS = ["red", "blue", "green", "yellow", "purple", "star", "ring", "circle", "square", "heart", "cross"]


def prompt(i: int) -> str:
    """A prompt that no other request of the run repeats, so our text-embedding cache never hits."""
    return f"a {WORDS[i % 5]} {WORDS[5 + (i // 5) % 6]} above a {WORDS[(i * 3) % 5]} circle, take {i}"


@dataclass(frozen=True)
class Row:
    path: str
    clients: int
    latencies: tuple[float, ...]
    seconds: float

    @property
    def images_per_s(self) -> float:
        return len(self.latencies) / self.seconds

    def percentile(self, q: int) -> float:
        if len(self.latencies) < 2:
            return self.latencies[0]
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[q - 1]


def time_clients(url: str, clients: int, args, path: str, seconds: float, first: int) -> Row:
    """`clients` threads posting requests back to back for `seconds`; in-flight ones are finished.
    Requests are numbered from `first` (prompt and seed)."""
    latencies: list[float] = []
    lock = threading.Lock()
    start = time.perf_counter()
    deadline = start + seconds

    def client(index: int) -> None:
        with httpx.Client(timeout=600) as http:
            i = first + index
            while time.perf_counter() < deadline:
                began = time.perf_counter()
                answer = http.post(f"{url}/v1/images/generations", json=body(i, args))
                answer.raise_for_status()
                with lock:
                    latencies.append(time.perf_counter() - began)
                i += clients

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Row(path, clients, tuple(latencies), time.perf_counter() - start)


def body(i: int, args) -> dict:
    return {"prompt": prompt(i), "size": f"{args.size}x{args.size}", "seed": i, "steps": args.steps}


def diffusers_server(stage_one_dir: Path, stage_two_dir: Path, port: int) -> None:
    """The baseline: diffusers' IF pipelines run per request, one request at a time, behind a lock."""
    import uvicorn
    from diffusers import IFPipeline, IFSuperResolutionPipeline
    from fastapi import FastAPI

    stage_one = IFPipeline.from_pretrained(stage_one_dir)
    stage_two = IFSuperResolutionPipeline.from_pretrained(stage_two_dir, text_encoder=None)
    for pipe in (stage_one, stage_two):
        pipe.set_progress_bar_config(disable=True)
    app = FastAPI()
    lock = threading.Lock()

    @app.get("/readyz")
    def ready() -> dict:
        return {"status": "ready"}

    @app.post("/v1/images/generations")
    def generate(request: dict) -> dict:
        steps_one, steps_two = request["steps"]
        with lock:
            generator = torch.Generator().manual_seed(request["seed"])
            embeds, negative = stage_one.encode_prompt(request["prompt"])
            low = stage_one(
                prompt_embeds=embeds,
                negative_prompt_embeds=negative,
                generator=generator,
                num_inference_steps=steps_one,
                output_type="pt",
            ).images
            image = stage_two(
                image=low,
                prompt_embeds=embeds,
                negative_prompt_embeds=negative,
                generator=generator,
                num_inference_steps=steps_two,
                output_type="pil",
            ).images[0]
        png = io.BytesIO()
        image.save(png, format="PNG")
        return {
            "created": int(time.time()),
            "data": [{"b64_json": base64.b64encode(png.getvalue()).decode()}],
        }

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


@contextlib.contextmanager
def running_server(command: list[str], port: int, log: Path, warm_up: dict) -> Iterator[str]:
    """A server subprocess, answering and warmed up by one request; yields its URL."""
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        while True:  # poll until it answers
            if process.poll() is not None:
                raise RuntimeError(f"server exited with {process.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{url}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        httpx.post(f"{url}/v1/images/generations", json=warm_up, timeout=600).raise_for_status()
        yield url
    except httpx.HTTPStatusError:
        print(log.read_text()[-3000:], file=sys.stderr)
        raise
    finally:
        process.terminate()
        process.wait()


def measure_interleaved(urls: dict[str, str], args) -> list[Row]:
    """Each client count in `args.rounds` rounds, the servers taking turns within a round (the order
    alternating from round to round), so that the machine's drift over a run falls on both alike."""
    rows = []
    turns = itertools.count(1)  # request 0 is the warm-up
    for clients in args.clients:
        latencies: dict[str, list[float]] = {name: [] for name in urls}
        seconds = dict.fromkeys(urls, 0.0)
        for round_index in range(args.rounds):
            order = list(urls) if round_index % 2 == 0 else list(reversed(urls))
            first = next(turns) * TURN_REQUESTS  # every server gets the same requests in a turn
            for name in order:
                row = time_clients(urls[name], clients, args, name, args.seconds / args.rounds, first)
                latencies[name] += row.latencies
                seconds[name] += row.seconds
        rows += [Row(name, clients, tuple(latencies[name]), seconds[name]) for name in urls]
    return rows


def light_p50_ms(urls: dict[str, str], rounds: int, calls: int = 200) -> dict[str, float]:
    """p50 of `GET /v1/models` at one client: a call with no model work, so what is left is transport.
    `calls` per server in each of `rounds` turns, the order alternating as in `measure_interleaved`."""
    latencies: dict[str, list[float]] = {name: [] for name in urls}
    with httpx.Client() as http:
        for round_index in range(rounds):
            for name in list(urls) if round_index % 2 == 0 else list(reversed(urls)):
                for _ in range(calls):
                    began = time.perf_counter()
                    http.get(f"{urls[name]}/v1/models").raise_for_status()
                    latencies[name].append(time.perf_counter() - began)
    return {name: statistics.median(times) * 1000 for name, times in latencies.items()}


def tiny_if_folders(root: Path) -> dict[str, Path]:
    return tiny_models().build_if_checkpoint(root)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def print_table(rows: list[Row], args) -> None:
    steps = ",".join(map(str, args.steps))
    print(
        f"\n{args.seconds:.0f} s per row, {args.size}px, steps {steps}, cpu, "
        f"torch threads {torch.get_num_threads()}, {platform.machine()}"
    )
    first = rows[0].path
    print(
        f"| server | clients | images | images/s | p50 s | p95 s | images/s vs {first} | p50 vs {first} ms |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    baseline = {row.clients: row for row in rows if row.path == first}
    for row in rows:
        base = baseline[row.clients]
        print(
            f"| {row.path} | {row.clients} | {len(row.latencies)} | {row.images_per_s:.2f} | "
            f"{row.percentile(50):.2f} | {row.percentile(95):.2f} | "
            f"{row.images_per_s / base.images_per_s:.2f}x | "
            f"{(row.percentile(50) - base.percentile(50)) * 1000:+.1f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--stage-I", dest="stage_I", type=Path, help="IF stage I folder (default: tiny, built here)"
    )
    parser.add_argument("--stage-II", dest="stage_II", type=Path, help="IF stage II folder")
    parser.add_argument("--seconds", type=float, default=20.0, help="measuring time per server and row")
    parser.add_argument("--rounds", type=int, default=4, help="turns per row, servers alternating")
    parser.add_argument("--clients", type=lambda text: [int(c) for c in text.split(",")], default=[1, 4, 16])
    parser.add_argument("--steps", type=lambda text: [int(s) for s in text.split(",")], default=[20, 10])
    parser.add_argument("--batch-size", type=int, default=16, help="the server's --max-batch-size")
    parser.add_argument("--ray", action="store_true", help="compare cascade serve with itself on Ray Serve")
    parser.add_argument("--diffusers-server", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.diffusers_server:
        diffusers_server(args.stage_I, args.stage_II, args.port)
        return

    with tempfile.TemporaryDirectory() as temp:
        if args.stage_I is None:
            folders = tiny_if_folders(Path(temp))
            args.stage_I, args.stage_II = folders["stage_I"], folders["stage_II"]
        args.size = _stage_two_size(args.stage_II)
        models = ["--stage-I", str(args.stage_I), "--stage-II", str(args.stage_II)]
        baseline_port, ours_port = free_port(), free_port()
        baseline = [sys.executable, __file__, "--diffusers-server", *models, "--port", str(baseline_port)]

        def ours(port: int, *extra: str) -> list[str]:
            command = [
                sys.executable,
                "-m",
                "server",
                "--model",
                str(args.stage_I),
                "--stage-II",
                str(args.stage_II),
            ]
            return [
                *command,
                "--port",
                str(port),
                "--max-batch-size",
                str(args.batch_size),
                "--log-level",
                "warning",
                *extra,
            ]

        commands = {
            "diffusers server": (baseline, baseline_port),
            "cascade serve": (ours(ours_port), ours_port),
        }
        if args.ray:  # the second port serves Ray instead of the baseline
            commands = {
                "cascade serve": (ours(ours_port), ours_port),
                "cascade serve --ray": (ours(baseline_port, "--ray", "--replicas", "1"), baseline_port),
            }
        with contextlib.ExitStack() as servers:
            urls = {
                name: servers.enter_context(
                    running_server(command, port, Path(temp) / f"{port}.log", body(0, args))
                )
                for name, (command, port) in commands.items()
            }
            rows = measure_interleaved(urls, args)
            light = light_p50_ms(urls, args.rounds)
    print_table(rows, args)
    print("\nGET /v1/models at 1 client, p50: " + ", ".join(f"{n} {ms:.1f} ms" for n, ms in light.items()))


def _stage_two_size(folder: Path) -> int:
    """The output size of an IF stage II folder, from its U-Net's config."""
    import json

    return json.loads((folder / "unet" / "config.json").read_text())["sample_size"]


if __name__ == "__main__":
    main()
