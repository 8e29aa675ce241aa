"""The app on Ray Serve (server/ray_serve.py): a loopback Ray instance, 2 replicas of the tiny cascade.

One Ray instance and one Serve application for the module; the fault tests kill a replica each, and the
last test shuts Serve down under load, so they run last in file order.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import os
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai
import pytest

ray = pytest.importorskip("ray")
serve = pytest.importorskip("ray.serve")

from cascade.options import ModelOptions  # noqa: E402
from cascade.safeguards import Safeguards  # noqa: E402
from server.config import ServerConfig  # noqa: E402
from server.errors import KNOWN  # noqa: E402
from server.ray_serve import (  # noqa: E402
    APP_NAME,
    PROXY_CALLBACK,
    PROXY_ERRORS,
    ProxyErrors,
    Scaling,
    app_builder,
    application,
    labelled,
)
from tests.conftest import SERVED_FORWARD_ROWS  # noqa: E402
from tests.server.live_server import wait_until  # noqa: E402
from tests.server.test_stream import parse  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
REQUEST = {"prompt": "a red star above a blue ring", "size": "32x32", "seed": 5, "steps": 2}
DEADLINE_S = 60.0


def load_tiny(folder: Path):
    """The served tiny cascade, built in the replica (a prompt filter holds a lock: it cannot be pickled)."""
    from safety import PromptFilter

    options = ModelOptions(model=folder, forward_rows=SERVED_FORWARD_ROWS, threads=1)
    return options.load(safeguards=Safeguards(prompt_filter=PromptFilter(semantic=False).check))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def url(own_folder):
    """Serve's proxy URL, with two replicas running; Ray is shut down after the module."""
    os.environ[PROXY_CALLBACK[0]] = PROXY_CALLBACK[1]  # as `cascade serve --ray` does; the proxy inherits it
    ray.init(
        num_cpus=2,
        _node_ip_address="127.0.0.1",
        include_dashboard=False,
        runtime_env={"env_vars": {"PYTHONPATH": str(REPO)}},
        log_to_driver=False,
    )
    try:
        port = free_port()
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        load = functools.partial(load_tiny, own_folder)
        serve.run(application(load, ServerConfig(), Scaling(replicas=2)), name=APP_NAME, route_prefix="/")
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: len(replicas_ready(base)) == 2, DEADLINE_S, "two ready replicas")
        yield base
    finally:
        serve.shutdown()
        ray.shutdown()
        os.environ.pop(PROXY_CALLBACK[0])


def replicas_ready(url: str, tries: int = 12) -> set[str]:
    """The replicas that answered /readyz 200 among `tries` calls."""
    seen = set()
    for _ in range(tries):
        try:
            response = httpx.get(f"{url}/readyz", timeout=5)
        except httpx.TransportError:
            continue
        if response.status_code == 200:
            seen.add(response.headers["x-replica"])
    return seen


def post(url: str, body: dict = REQUEST) -> httpx.Response:
    return httpx.post(f"{url}/v1/images/generations", json=body, timeout=DEADLINE_S)


def test_openai_sdk_round_trip_and_url_images_resolve_on_any_replica(url):
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
    generate = client.images.with_raw_response.generate
    raw = generate(prompt="a green heart", size="32x32", extra_body={"seed": 1})
    assert raw.headers["x-replica"]
    assert base64.b64decode(raw.parse().data[0].b64_json).startswith(b"\x89PNG")
    image_url = client.images.generate(prompt="a red star", size="32x32", response_format="url").data[0].url
    fetched = [httpx.get(image_url, timeout=DEADLINE_S) for _ in range(6)]
    assert all(r.status_code == 200 and r.content.startswith(b"\x89PNG") for r in fetched)
    assert len({r.content for r in fetched}) == 1


def test_eight_concurrent_requests_are_served_by_both_replicas(url):
    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda seed: post(url, {**REQUEST, "seed": seed}), range(8)))
    assert all(r.status_code == 200 for r in responses)
    assert len({r.headers["x-replica"] for r in responses}) == 2


def test_server_sent_events_stream_through_serve_in_order(url):
    body = {"prompt": "a red star", "size": "64x64", "seed": 2, "steps": [2, 3, 1]}
    with httpx.stream("POST", f"{url}/v1/generate", json=body, timeout=DEADLINE_S) as stream:
        assert stream.status_code == 200 and stream.headers["x-replica"]
        events = parse(stream.iter_text())
    names = [name for name, _ in events]
    assert names[0] == "queued" and names[-2:] == ["image", "done"]
    assert [d["resolution"] for n, d in events if n == "preview"] == [16, 32, 64]


def test_same_seed_same_bytes_on_every_replica_and_in_the_single_process_server(url, serve):
    by_replica: dict[str, set[str]] = {}
    with ThreadPoolExecutor(4) as pool:
        for response in pool.map(lambda _: post(url), range(8)):
            image = response.json()["data"][0]["b64_json"]
            by_replica.setdefault(response.headers["x-replica"], set()).add(image)
    assert len(by_replica) == 2
    images = set().union(*by_replica.values())
    single = (
        serve()
        .client()
        .images.generate(prompt=REQUEST["prompt"], size=REQUEST["size"], extra_body={"seed": 5, "steps": 2})
    )
    assert images == {single.data[0].b64_json}


def test_health_and_metrics_carry_the_replica(url):
    assert httpx.get(f"{url}/healthz").status_code == 200
    response = httpx.get(f"{url}/metrics")
    replica = response.headers["x-replica"]
    samples = [line for line in response.text.splitlines() if line and not line.startswith("#")]
    assert samples and all(f'replica="{replica}"' in line for line in samples)
    assert httpx.get(f"{url}/", timeout=10).status_code == 200  # the web page


def test_labelled_adds_the_replica_to_samples_with_and_without_labels():
    text = b'# HELP a x\na 1.0\nb{stage="16px"} 2.0\n'
    assert labelled(text, "r1") == b'# HELP a x\na{replica="r1"} 1.0\nb{stage="16px",replica="r1"} 2.0\n'


def answers(app, path: str = "/v1/images/generations") -> list[dict]:
    """The ASGI messages `ProxyErrors(app)` sends for one call."""
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b""}

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(ProxyErrors(app)({"type": "http", "path": path}, receive, send))
    return sent


def test_proxy_errors_turns_a_call_left_unanswered_into_an_openai_500_and_passes_replica_answers():
    async def unanswered(scope, receive, send) -> None:
        return None

    async def replica_500(scope, receive, send) -> None:
        await send({"type": "http.response.start", "status": 500, "headers": [(b"x-replica", b"r1")]})
        await send({"type": "http.response.body", "body": b"{}"})

    async def proxy_503(scope, receive, send) -> None:
        await send({"type": "http.response.start", "status": 503, "headers": []})
        await send({"type": "http.response.body", "body": b"No replicas are available yet."})

    start, body = answers(unanswered)
    assert start["status"] == 500 and (b"content-type", b"application/json") in start["headers"]
    error = json.loads(body["body"])["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["code"] == "internal_error"
    assert answers(replica_500)[1]["body"] == b"{}"
    start, body = answers(proxy_503)
    assert start["status"] == 503 and json.loads(body["body"])["error"]["code"] == "unavailable"
    assert len(answers(unanswered, path="/-/healthz")) == 0  # Ray's own routes are left alone
    assert all(kind in KNOWN for kind in PROXY_ERRORS.items())


def _replica_actor_names() -> list[str]:
    from ray.util import list_named_actors

    names = [a["name"] for a in list_named_actors(all_namespaces=True) if a["namespace"] == "serve"]
    return [name for name in names if "CascadeReplica" in name]


def _kill(replica: str) -> None:
    (name,) = [n for n in _replica_actor_names() if n.endswith(replica)]
    ray.kill(ray.get_actor(name, namespace="serve"), no_restart=True)


def _busy_replicas() -> list[str]:
    """The replicas with a call in progress, asked of Ray's replica actors (the proxy sends a /metrics
    scrape to the replica with fewer ongoing calls, so a scrape cannot find the busy one)."""
    busy = []
    for name in _replica_actor_names():
        if ray.get(ray.get_actor(name, namespace="serve").get_num_ongoing_requests.remote(), timeout=10):
            busy.append(name.rsplit("#", 1)[-1])
    return busy


def test_a_plain_call_whose_replica_dies_gets_an_openai_error_from_the_proxy(url):
    long = {"prompt": "a big circle", "size": "64x64", "seed": 8, "steps": [240, 1, 1]}
    victim: list[str] = []

    def running() -> bool:
        victim[:] = _busy_replicas()
        return bool(victim)

    with ThreadPoolExecutor(1) as pool:
        call = pool.submit(post, url, long)
        wait_until(running, DEADLINE_S, "the call to run on a replica")
        _kill(victim[0])
        response = call.result()
    assert response.status_code == 500 and "x-replica" not in response.headers
    assert response.json()["error"]["code"] == "internal_error"
    wait_until(lambda: len(replicas_ready(url) - set(victim)) == 2, DEADLINE_S, "a replacement replica")


def test_killed_replica_fails_its_calls_cleanly_survivors_serve_and_it_comes_back(url):
    long = {"prompt": "a big circle", "size": "64x64", "seed": 9, "steps": [240, 1, 1]}
    with ThreadPoolExecutor(1) as pool:
        with httpx.stream("POST", f"{url}/v1/generate", json=long, timeout=DEADLINE_S) as stream:
            victim = stream.headers["x-replica"]
            lines = stream.iter_lines()
            next(line for line in lines if line == "event: progress")  # running on the victim now
            _kill(victim)
            with pytest.raises(httpx.RemoteProtocolError):  # cut, not hung: no `done` ever comes
                list(lines)
        survivors = list(pool.map(lambda s: post(url, {**REQUEST, "seed": s}), range(4)))
    assert all(r.status_code == 200 for r in survivors)
    assert victim not in {r.headers["x-replica"] for r in survivors}
    wait_until(lambda: len(replicas_ready(url) - {victim}) == 2, DEADLINE_S, "a replacement replica")


def test_shutdown_finishes_every_accepted_call(url):
    bodies = [{**REQUEST, "size": "64x64", "seed": s, "steps": [30, 1, 1]} for s in range(3)]
    tails: list[str] = []
    streams_started = threading.Barrier(len(bodies) + 1)

    def call(body: dict) -> None:
        with httpx.stream("POST", f"{url}/v1/generate", json=body, timeout=DEADLINE_S) as stream:
            lines = stream.iter_lines()
            next(line for line in lines if line == "event: progress")
            streams_started.wait(DEADLINE_S)
            tails.append("\n".join(lines))

    threads = [threading.Thread(target=call, args=(body,)) for body in bodies]
    for thread in threads:
        thread.start()
    streams_started.wait(DEADLINE_S)
    serve.delete(APP_NAME)  # graceful: each replica finishes its ongoing calls before it stops
    for thread in threads:
        thread.join(DEADLINE_S)
    assert len(tails) == len(bodies) and all("event: done" in tail for tail in tails)


def test_the_deployment_yaml_in_the_docs_is_deploy_serve_yaml_and_builds():
    import re

    import yaml

    text = (REPO / "deploy" / "serve.yaml").read_text()
    assert text in re.findall(r"^```yaml\n(.*?)^```", (REPO / "docs" / "SERVER.md").read_text(), re.M | re.S)
    args = yaml.safe_load(text)["applications"][0]["args"]
    del args["api_keys_file"]  # read where the app is built; not on this machine
    deployment = app_builder(args)._bound_deployment
    assert deployment.max_ongoing_requests == args["max_queue"]
    assert deployment.ray_actor_options["num_gpus"] == 1
    assert deployment._deployment_config.autoscaling_config.max_replicas == 8
