"""Soak test of `cascade serve`: mixed good, malformed and poison traffic, disconnects, then SIGTERM.

One server (`python -m server`, the same as `cascade serve`) runs as a subprocess on a free loopback
port with tiny random-weight IF folders (`tests/tiny_models.build_if_checkpoint`: 16 px stage I,
32 px stage II, tiny T5) built in a temporary folder, unless --stage-I/--stage-II are given. After
/readyz and one warm-up request per endpoint, `--clients` threads post back to back for `--minutes`,
each on one kept-alive httpx connection, to `POST /v1/images/generations` and to the streaming
`POST /v1/generate`, half each. Each request is drawn at random (`--seed`):

- malformed (`--malformed-share`): bad JSON, invalid UTF-8, a wrong type, an unknown field, a bad
  size, steps out of range, a body over 32 KiB. Each must get a 4xx in OpenAI's error shape.
- poison (`--poison-share`): a prompt or negative prompt holding a lone UTF-16 surrogate (sent as the
  JSON text `"\\ud800"`), a prompt of only zero-width characters or of only NULs. Each must get a
  4xx in OpenAI's error shape, and must not hurt the good requests batched with it.
- disconnect (`--disconnect-share`): a good request whose client closes the socket while waiting
  (images: a raw socket closed after a random 20-300 ms; stream: closed after the first `progress`).
- well-formed, the rest: 16 or 32 px, 4 steps, n=1 (one in ten n=2). Each must succeed (200 with
  every image, or a stream ending in `done` with every image).

Beside them, `--idle-clients` connections sit idle but kept alive (a `GET /healthz` every 2 s, each
recorded, so a server too busy to answer its health check shows as hung).

When the time is up the script sends SIGTERM while requests are in flight; clients go on posting
well-formed requests on their kept-alive connections (one each 0.25 s) until their first refused
connection, and each idle connection posts one, 0, 50, 100, ... ms after SIGTERM.
Requests answered after SIGTERM are counted apart: in flight at SIGTERM (sent before, answered
after) must finish; sent after SIGTERM must get 503 `draining` or, once the listener is closed, a
refused connection. The process must exit 0 within `--drain-timeout`.

Every request is classified by outcome: ok, `<status> <code>` (`code` from the error body; "no error
shape" when the body is not OpenAI's `{"error": {message, type, param, code}}`), stream error
`<code>` (an `error` event after a 200), stream cut (ended without `done`), connection
refused/reset/other, hung (no answer within `--timeout`), closed by client. Printed: requests by
phase, kind and outcome; "lost" requests (well-formed, sent before SIGTERM or in flight at it, with
a 5xx, a stream error or cut, a connection error or no answer; after SIGTERM, anything but ok, 503
`draining` or refused); hung requests; p50/p95 latency of the good requests per endpoint; VmRSS of
the server process (/proc/<pid>/status, sampled every second) at start (after warm-up), middle and
end of the run (before SIGTERM), with the growth in each half: RSS "levels off" when the second
half grows by at most half of what the first did, or by at most 1% of the start (sampling noise).
Also the server's own counters (/metrics, read just before SIGTERM) and ERROR lines in its log.

Targets: 0 lost, 0 hung, 0 5xx for well-formed requests, every bad request a 4xx in OpenAI's shape,
exit code 0, RSS growth that levels off. The last line is a verdict; the exit status is 1 when a
target is missed, so the script can run as a check. Loopback only, bounded by --minutes plus the
drain (at most --drain-timeout) and one --timeout.

    python bench/soak.py [--minutes 1] [--clients 8] [--idle-clients 4] [--malformed-share 0.1]
                         [--poison-share 0.05] [--disconnect-share 0.05] [--seed 0] [--log serve.log]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from serve import free_port
from tiny import tiny_models

ROOT = Path(__file__).resolve().parents[1]
WORDS = ["red", "blue", "green", "yellow", "purple", "star", "ring", "circle", "square", "heart", "cross"]
PATHS = {"images": "/v1/images/generations", "stream": "/v1/generate"}
ERROR_FIELDS = {"message", "type", "param", "code"}
RUN, IN_FLIGHT, AFTER = "run", "in flight at SIGTERM", "after SIGTERM"
DRAIN_ANSWERS = {"ok", "503 draining", "connection refused"}
DRAIN_PAUSE_S = 0.25
HEARTBEAT_S = 2.0  # under uvicorn's 5 s keep-alive timeout, so an idle connection stays open


@dataclass(frozen=True)
class Plan:
    """One request to send: what it is (group and kind), where, its raw body and images asked for."""

    group: str  # "well-formed", "malformed", "poison" or "disconnect"
    kind: str
    endpoint: str  # "images" or "stream"
    body: bytes
    n: int = 1


@dataclass(frozen=True)
class Record:
    plan: Plan
    phase: str
    outcome: str
    seconds: float


@dataclass
class Soak:
    """What the client threads share: the server, the mix, the records and the SIGTERM time."""

    url: str
    args: argparse.Namespace
    sizes: tuple[int, ...]
    records: list[Record] = field(default_factory=list)
    sigterm_at: float | None = None
    sigterm: threading.Event = field(default_factory=threading.Event)
    in_flight: int = 0
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    counter: Iterator[int] = field(default_factory=lambda: iter(range(1, 10**12)))

    def take_number(self) -> int:
        with self.lock:
            return next(self.counter)

    def started(self) -> None:
        with self.lock:
            self.in_flight += 1

    def finished(self, plan: Plan, sent: float, answered: float, outcome: str) -> None:
        with self.lock:
            self.in_flight -= 1
            self.records.append(
                Record(plan, phase(sent, answered, self.sigterm_at), outcome, answered - sent)
            )


def phase(sent: float, answered: float, sigterm_at: float | None) -> str:
    if sigterm_at is None or answered < sigterm_at:
        return RUN
    return IN_FLIGHT if sent < sigterm_at else AFTER


# The requests.


def prompt(i: int) -> str:
    """A prompt no other request repeats, so the server's embedding cache never hits."""
    return f"a {WORDS[i % 5]} {WORDS[5 + (i // 5) % 6]} above a {WORDS[(i * 3) % 5]} circle, take {i}"


def good_body(i: int, rng: random.Random, sizes: tuple[int, ...]) -> dict:
    size = rng.choice(sizes)
    return {
        "prompt": prompt(i),
        "size": f"{size}x{size}",
        "seed": i,
        "steps": 4,
        "n": 2 if rng.random() < 0.1 else 1,
    }


def encode(body: dict) -> bytes:
    """JSON text, ASCII only: a lone surrogate goes out as the six characters `\\ud800`."""
    return json.dumps(body).encode("ascii")


MALFORMED: dict[str, Callable[[dict], bytes]] = {
    "bad JSON": lambda body: encode(body)[:-1],
    "invalid UTF-8": lambda body: encode(body).replace(b" above", b" \xff\xfeabove"),
    "wrong type": lambda body: encode(body | {"n": "2"}),
    "unknown field": lambda body: encode(body | {"quality": "hd"}),
    "bad size": lambda body: encode(body | {"size": "100x100"}),
    "steps out of range": lambda body: encode(body | {"steps": 100_000}),
    "body over 32 KiB": lambda body: encode(body | {"prompt": "a red star " * 4000}),
}
POISON: dict[str, Callable[[dict], bytes]] = {
    "surrogate in prompt": lambda body: encode(body | {"prompt": body["prompt"] + " \ud800"}),
    "surrogate in negative_prompt": lambda body: encode(body | {"negative_prompt": "blurry \udfff"}),
    "zero-width prompt": lambda body: encode(body | {"prompt": "\u200b\u200c\u200d\u2060\ufeff"}),
    "NUL prompt": lambda body: encode(body | {"prompt": "\x00\x00\x00"}),
}


def draw(soak: Soak, rng: random.Random) -> Plan:
    """The next request of a client: malformed, poison, disconnect or well-formed, at the set shares;
    only well-formed ones once SIGTERM is sent."""
    args = soak.args
    body = good_body(soak.take_number(), rng, soak.sizes)
    endpoint = rng.choice(list(PATHS))
    if soak.sigterm_at is not None:
        return Plan("well-formed", "good", endpoint, encode(body), body["n"])
    roll = rng.random()
    if roll < args.malformed_share:
        kind = rng.choice(list(MALFORMED))
        return Plan("malformed", kind, endpoint, MALFORMED[kind](body), body["n"])
    roll -= args.malformed_share
    if roll < args.poison_share:
        kind = rng.choice(list(POISON))
        return Plan("poison", kind, endpoint, POISON[kind](body), body["n"])
    roll -= args.poison_share
    if roll < args.disconnect_share:
        return Plan("disconnect", "closes while waiting", endpoint, encode(body), body["n"])
    return Plan("well-formed", "good", endpoint, encode(body), body["n"])


# Sending and classifying.


def error_outcome(status: int, content: bytes) -> str:
    """`<status> <code>` from OpenAI's error body, or `<status> no error shape`."""
    try:
        error = json.loads(content)["error"]
        if not isinstance(error, dict) or set(error) != ERROR_FIELDS:
            raise TypeError
    except (ValueError, TypeError, KeyError):
        return f"{status} no error shape"
    return f"{status} {'null' if error['code'] is None else error['code']}"


def images_outcome(answer: httpx.Response, n: int) -> str:
    if answer.status_code != 200:
        return error_outcome(answer.status_code, answer.content)
    data = answer.json().get("data", [])
    return "ok" if len(data) == n and all(item.get("b64_json") for item in data) else "200 incomplete"


def sse_events(answer: httpx.Response, deadline: float) -> Iterator[tuple[str, dict]]:
    """(event, data) pairs of a Server-Sent Events answer; raises TimeoutError past `deadline`."""
    name = None
    for line in answer.iter_lines():
        if time.monotonic() > deadline:
            raise TimeoutError
        if line.startswith("event: "):
            name = line[len("event: ") :]
        elif line.startswith("data: ") and name is not None:
            yield name, json.loads(line[len("data: ") :])
            name = None


def stream_outcome(answer: httpx.Response, n: int, deadline: float, disconnect: bool) -> str:
    if answer.status_code != 200:
        answer.read()
        return error_outcome(answer.status_code, answer.content)
    images = 0
    for name, data in sse_events(answer, deadline):
        if name == "progress" and disconnect:
            return "closed by client"
        if name == "error":
            return f"stream error {data['error'].get('code')}"
        images += name == "image"
        if name == "done":
            return "ok" if images == n else "stream done, images missing"
    return "stream cut"


def post(http: httpx.Client, plan: Plan, timeout: float) -> str:
    """Send `plan` on the client's kept-alive connection; its outcome."""
    headers = {"content-type": "application/json"}
    url = PATHS[plan.endpoint]
    if plan.endpoint == "images":
        return images_outcome(http.post(url, content=plan.body, headers=headers), plan.n)
    deadline = time.monotonic() + timeout
    with http.stream("POST", url, content=plan.body, headers=headers) as answer:
        return stream_outcome(answer, plan.n, deadline, plan.group == "disconnect")


def raw_disconnect(url: str, plan: Plan, rng: random.Random) -> str:
    """POST on a fresh socket and close it 20-300 ms later without reading the answer."""
    host, port = url.removeprefix("http://").split(":")
    head = (
        f"POST {PATHS[plan.endpoint]} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(plan.body)}\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(head.encode() + plan.body)
        sock.settimeout(rng.uniform(0.02, 0.3))
        try:
            return "answered before close" if sock.recv(1) else "connection reset"
        except TimeoutError:
            return "closed by client"


def send(http: httpx.Client, soak: Soak, plan: Plan, rng: random.Random) -> str:
    """The outcome of one request, transport failures included."""
    try:
        if plan.group == "disconnect" and plan.endpoint == "images":
            return raw_disconnect(soak.url, plan, rng)
        return post(http, plan, soak.args.timeout)
    except (httpx.TimeoutException, TimeoutError):
        return "hung"
    except ConnectionRefusedError:
        return "connection refused"
    except httpx.ConnectError as error:
        return "connection refused" if "refused" in str(error).lower() else "connection error (connect)"
    except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError, ConnectionResetError):
        return "connection reset"
    except (httpx.HTTPError, OSError) as error:
        return f"connection error ({type(error).__name__})"
    except (ValueError, KeyError, AttributeError) as error:
        return f"unreadable answer ({type(error).__name__})"


def client(soak: Soak, index: int) -> None:
    """Post back to back until told to stop; after SIGTERM, one request each DRAIN_PAUSE_S until the
    first refused connection (the listener is closed: every later one would be refused too)."""
    rng = random.Random(soak.args.seed * 10_007 + index)
    with httpx.Client(base_url=soak.url, timeout=soak.args.timeout) as http:
        while not soak.stop.is_set():
            plan = draw(soak, rng)
            soak.started()
            sent = time.monotonic()
            outcome = send(http, soak, plan, rng)
            soak.finished(plan, sent, time.monotonic(), outcome)
            if soak.sigterm_at is not None:
                if outcome == "connection refused" and sent > soak.sigterm_at:
                    return
                time.sleep(DRAIN_PAUSE_S)


def idle_client(soak: Soak, index: int) -> None:
    """Hold a kept-alive connection open with a `GET /healthz` each HEARTBEAT_S (each recorded: a
    slow or missing answer is a hung server), then post one well-formed request on it
    `index` x 50 ms after SIGTERM."""
    rng = random.Random(soak.args.seed * 10_007 - index - 1)
    health = Plan("health", "GET /healthz", "healthz", b"")
    with httpx.Client(base_url=soak.url, timeout=soak.args.timeout) as http:
        while not soak.sigterm.wait(HEARTBEAT_S):
            soak.started()
            sent = time.monotonic()
            soak.finished(health, sent, time.monotonic(), heartbeat(http))
        time.sleep(index * 0.05)
        plan = draw(soak, rng)
        soak.started()
        sent = time.monotonic()
        soak.finished(plan, sent, time.monotonic(), send(http, soak, plan, rng))


def heartbeat(http: httpx.Client) -> str:
    try:
        answer = http.get("/healthz")
    except httpx.TimeoutException:
        return "hung"
    except httpx.HTTPError as error:
        return f"connection error ({type(error).__name__})"
    return "ok" if answer.status_code == 200 else f"{answer.status_code}"


# The server and its memory.


def server_command(args: argparse.Namespace, port: int) -> list[str]:
    """`python -m server` (what `cascade serve` runs) on `port`, errors only in its log."""
    model = ["--model", str(args.stage_I), "--stage-II", str(args.stage_II)]
    options = {"--port": port, "--max-batch-size": args.batch_size, "--log-level": "warning"}
    if args.threads:
        options["--threads"] = args.threads
    return [sys.executable, "-m", "server", *model, *(str(x) for pair in options.items() for x in pair)]


def wait_ready(process: subprocess.Popen, url: str, log: Path, limit_s: float = 600) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{url}/readyz").status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"server not ready after {limit_s:.0f} s")


def warm_up(url: str, sizes: tuple[int, ...], timeout: float) -> None:
    """One good request per endpoint, so lazy initialisation is outside the soak and the RSS start."""
    body = encode({"prompt": prompt(0), "size": f"{sizes[-1]}x{sizes[-1]}", "seed": 0, "steps": 4})
    with httpx.Client(base_url=url, timeout=timeout) as http:
        for plan in (Plan("well-formed", "warm-up", endpoint, body) for endpoint in PATHS):
            outcome = post(http, plan, timeout)
            if outcome != "ok":
                raise RuntimeError(f"warm-up request to {PATHS[plan.endpoint]} failed: {outcome}")


def rss_kib(pid: int) -> int | None:
    """VmRSS of `pid` in KiB, or None once the process is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    return int(match.group(1)) if match else None


def sample_rss(
    pid: int, samples: list[tuple[float, int]], stop: threading.Event, every_s: float = 1.0
) -> None:
    while not stop.is_set():
        kib = rss_kib(pid)
        if kib is not None:
            samples.append((time.monotonic(), kib))
        stop.wait(every_s)


def server_metrics(url: str) -> list[str]:
    """The server's request and error counters, as /metrics prints them."""
    with contextlib.suppress(httpx.HTTPError):
        text = httpx.get(f"{url}/metrics", timeout=10).text
        wanted = ("cascade_requests_total{", "cascade_http_errors_total{")
        return [line for line in text.splitlines() if line.startswith(wanted)]
    return ["(unreadable)"]


# The run.


@dataclass(frozen=True)
class Drain:
    in_flight: int
    exit_code: int | None  # None: still running after the drain timeout (then killed)
    seconds: float


def soak_and_drain(process: subprocess.Popen, soak: Soak) -> tuple[list[tuple[float, int]], Drain, list[str]]:
    """Run the clients for --minutes, SIGTERM the server with requests in flight, wait for its exit."""
    samples: list[tuple[float, int]] = []
    sampling = threading.Event()
    sampler = threading.Thread(target=sample_rss, args=(process.pid, samples, sampling), daemon=True)
    sampler.start()
    threads = [threading.Thread(target=client, args=(soak, i), daemon=True) for i in range(soak.args.clients)]
    threads += [
        threading.Thread(target=idle_client, args=(soak, i), daemon=True)
        for i in range(soak.args.idle_clients)
    ]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    soak.stop.wait(soak.args.minutes * 60)
    metrics = server_metrics(soak.url)
    sampling.set()
    sampler.join()
    with soak.lock:
        soak.sigterm_at = time.monotonic()
        soak.sigterm.set()
        in_flight = soak.in_flight
    process.send_signal(signal.SIGTERM)
    try:
        exit_code: int | None = process.wait(timeout=soak.args.drain_timeout)
    except subprocess.TimeoutExpired:
        exit_code = None
        process.kill()
        process.wait()
    drained = time.monotonic() - soak.sigterm_at
    time.sleep(0.5)  # let every client meet the closed port once
    soak.stop.set()
    for thread in threads:
        thread.join(soak.args.timeout + 10)
    return [(t - started, kib) for t, kib in samples], Drain(in_flight, exit_code, drained), metrics


# The report.


def is_lost(record: Record) -> bool:
    """A well-formed request that got neither its images nor a 4xx in OpenAI's shape: a 5xx, a
    stream error or cut, a connection error, an unreadable answer, or none (after SIGTERM: anything
    but ok, 503 draining or a refused connection)."""
    if record.plan.group != "well-formed":
        return False
    if record.phase == AFTER:
        return record.outcome not in DRAIN_ANSWERS
    return record.outcome != "ok" and not refused_properly(record)


def is_5xx(record: Record) -> bool:
    if record.phase == AFTER and record.outcome == "503 draining":
        return False
    return record.outcome[:1] == "5" or record.outcome.startswith("stream error")


def refused_properly(record: Record) -> bool:
    status = record.outcome.split(" ")[0]
    return status.isdigit() and 400 <= int(status) < 500 and "no error shape" not in record.outcome


def print_outcomes(records: list[Record]) -> None:
    counts = Counter((r.phase, r.plan.group, r.plan.kind, r.plan.endpoint, r.outcome) for r in records)
    print("| phase | group | kind | endpoint | outcome | requests |")
    print("| --- | --- | --- | --- | --- | ---: |")
    order = {RUN: 0, IN_FLIGHT: 1, AFTER: 2}
    groups = {"well-formed": 0, "disconnect": 1, "malformed": 2, "poison": 3, "health": 4}
    for key, count in sorted(counts.items(), key=lambda kv: (order[kv[0][0]], groups[kv[0][1]], kv[0][2:])):
        print(f"| {' | '.join(key)} | {count} |")


def percentile(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def print_latency(records: list[Record]) -> None:
    print("\n| well-formed, ok, before SIGTERM | requests | p50 s | p95 s | max s |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for endpoint in PATHS:
        times = [
            r.seconds
            for r in records
            if r.plan.group == "well-formed"
            and r.phase == RUN
            and r.outcome == "ok"
            and r.plan.endpoint == endpoint
        ]
        high = max(times, default=float("nan"))
        print(
            f"| {PATHS[endpoint]} | {len(times)} | {percentile(times, 50):.3f} | "
            f"{percentile(times, 95):.3f} | {high:.3f} |"
        )


@dataclass(frozen=True)
class Memory:
    start: int
    middle: int
    end: int
    peak: int

    @property
    def levels_off(self) -> bool:
        first, second = self.middle - self.start, self.end - self.middle
        return second <= max(first / 2, self.start / 100)


def memory(samples: list[tuple[float, int]]) -> Memory | None:
    if len(samples) < 3:
        return None
    half = samples[-1][0] / 2
    middle = min(samples, key=lambda s: abs(s[0] - half))[1]
    return Memory(samples[0][1], middle, samples[-1][1], max(kib for _, kib in samples))


def mib(kib: float) -> str:
    return f"{kib / 1024:.1f} MiB"


def print_memory(rss: Memory | None, samples: int) -> None:
    if rss is None:
        print("\nRSS: too few samples")
        return
    first, second = rss.middle - rss.start, rss.end - rss.middle
    verdict = "levels off" if rss.levels_off else "does NOT level off"
    print(
        f"\nRSS (server VmRSS, {samples} samples): start {mib(rss.start)}, middle {mib(rss.middle)}, "
        f"end {mib(rss.end)}, peak {mib(rss.peak)}; 1st half {first / 1024:+.1f} MiB, "
        f"2nd half {second / 1024:+.1f} MiB: {verdict}"
    )


def print_drain(records: list[Record], drain: Drain) -> None:
    def tally(which: str) -> str:
        counts = Counter(r.outcome for r in records if r.phase == which)
        return ", ".join(f"{n} {outcome}" for outcome, n in counts.most_common()) or "none"

    exit_text = f"exit code {drain.exit_code}" if drain.exit_code is not None else "did NOT exit (killed)"
    print(
        f"\ndrain: SIGTERM with {drain.in_flight} requests in flight; {exit_text} "
        f"{drain.seconds:.1f} s after SIGTERM"
    )
    print(f"  in flight at SIGTERM: {tally(IN_FLIGHT)}")
    print(f"  sent after SIGTERM: {tally(AFTER)}")


def print_server_side(metrics: list[str], log: Path) -> None:
    print("\nserver counters at SIGTERM (/metrics):")
    for line in metrics:
        print(f"  {line}")
    errors = [line for line in log.read_text(errors="replace").splitlines() if " ERROR " in line]
    print(f"server log: {len(errors)} ERROR lines")
    for line in list(dict.fromkeys(e.split(" ERROR ", 1)[1] for e in errors))[:5]:
        print(f"  ERROR {line[:160]}")


def verdict(records: list[Record], rss: Memory | None, drain: Drain) -> list[str]:
    """The targets missed, each with its figure; empty when every target is met."""
    lost = [r for r in records if is_lost(r)]
    hung = [r for r in records if r.outcome == "hung"]
    server_errors = [r for r in records if r.plan.group == "well-formed" and is_5xx(r)]
    refused = [
        r for r in records if r.plan.group == "well-formed" and r.phase != AFTER and refused_properly(r)
    ]
    refused = [r for r in refused if not r.outcome.startswith("429")]  # overload: a documented answer
    bad = [r for r in records if r.plan.group in ("malformed", "poison")]
    not_refused = [r for r in bad if not refused_properly(r)]
    missed = []
    if lost:
        missed.append(f"{len(lost)} lost")
    if hung:
        missed.append(f"{len(hung)} hung")
    if server_errors:
        missed.append(f"{len(server_errors)} 5xx for well-formed requests")
    if refused:
        missed.append(f"{len(refused)} well-formed requests refused with a 4xx")
    if not_refused:
        missed.append(f"{len(not_refused)} of {len(bad)} bad requests not answered 4xx in OpenAI's shape")
    if drain.exit_code != 0:
        missed.append(f"exit {drain.exit_code if drain.exit_code is not None else 'never'}, not 0")
    if rss is None or not rss.levels_off:
        missed.append("RSS growth does not level off")
    return missed


def report(
    records: list[Record], samples: list[tuple[float, int]], drain: Drain, metrics: list[str], log: Path
) -> int:
    print_outcomes(records)
    print_latency(records)
    rss = memory(samples)
    print_memory(rss, len(samples))
    print_drain(records, drain)
    print_server_side(metrics, log)
    missed = verdict(records, rss, drain)
    lost = sum(map(is_lost, records))
    hung = sum(r.outcome == "hung" for r in records)
    summary = f"{len(records)} requests, {lost} lost, {hung} hung, exit code {drain.exit_code}"
    print(
        f"\nverdict: {'FAIL' if missed else 'PASS'} ({summary})"
        + (": " + "; ".join(missed) if missed else "")
    )
    return 1 if missed else 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--minutes", type=float, default=1.0, help="soak time before SIGTERM (default 1)")
    add("--clients", type=int, default=8, help="client threads, one kept-alive connection each (default 8)")
    add("--malformed-share", type=float, default=0.1, help="share of malformed requests (default 0.1)")
    add("--poison-share", type=float, default=0.05, help="share of poison requests (default 0.05)")
    add("--disconnect-share", type=float, default=0.05, help="share of requests abandoned (default 0.05)")
    add("--idle-clients", type=int, default=4, help="idle kept-alive connections that post after SIGTERM")
    add("--seed", type=int, default=0, help="seed of the request mix (default 0)")
    add(
        "--timeout",
        type=float,
        default=60.0,
        help="seconds without an answer that count as hung (default 60)",
    )
    add(
        "--drain-timeout", type=float, default=120.0, help="seconds the server may take to exit (default 120)"
    )
    add("--batch-size", type=int, default=8, help="the server's --max-batch-size (default 8)")
    add("--threads", type=int, help="the server's torch CPU threads (default: torch's choice)")
    add("--log", type=Path, help="keep the server's log here (default: a temporary file)")
    add("--stage-I", dest="stage_I", type=Path, help="IF stage I folder (default: tiny, built here)")
    add("--stage-II", dest="stage_II", type=Path, help="IF stage II folder")
    args = parser.parse_args()
    if args.malformed_share + args.poison_share + args.disconnect_share > 1:
        parser.error("the malformed, poison and disconnect shares add up to more than 1")
    return args


def stage_sizes(stage_one: Path, stage_two: Path) -> tuple[int, ...]:
    """The sizes the server makes: each IF stage's U-Net sample size."""
    return tuple(
        json.loads((folder / "unet" / "config.json").read_text())["sample_size"]
        for folder in (stage_one, stage_two)
    )


def main() -> int:
    args = parse_args()
    with tempfile.TemporaryDirectory() as temp:
        if args.stage_I is None:
            folders = tiny_models().build_if_checkpoint(Path(temp))
            args.stage_I, args.stage_II = folders["stage_I"], folders["stage_II"]
        sizes = stage_sizes(args.stage_I, args.stage_II)
        log = args.log or Path(temp) / "serve.log"
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        with log.open("w") as out:
            process = subprocess.Popen(
                server_command(args, port), cwd=ROOT, stdout=out, stderr=subprocess.STDOUT
            )
        try:
            wait_ready(process, url, log)
            warm_up(url, sizes, args.timeout)
            print(
                f"soak: {args.minutes:g} min, {args.clients} clients, malformed {args.malformed_share:.0%}, "
                f"poison {args.poison_share:.0%}, disconnect {args.disconnect_share:.0%}, seed {args.seed}; "
                f"sizes {'/'.join(map(str, sizes))} px, 4 steps, server pid {process.pid} on {url}\n",
                flush=True,
            )
            soak = Soak(url, args, sizes)
            samples, drain, metrics = soak_and_drain(process, soak)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        return report(soak.records, samples, drain, metrics, log)


if __name__ == "__main__":
    sys.exit(main())
