"""The process side of serving: uvicorn with our protocol and limits, bound before the model loads,
draining on SIGTERM as docs/SERVER.md says.

- `listen(host, port)` binds first, so a busy port is an error in milliseconds, not after a model
  load of minutes.
- `DrainingServer`: on the first SIGTERM or Ctrl-C the service refuses new work (503 `draining`, with
  `Retry-After`) while uvicorn keeps answering, and every response carries `Connection: close`, so a
  kept-alive client gets that answer instead of a reset; once the engine has finished everything it
  accepted, uvicorn closes its listener and waits for the last responses to be written. A second signal
  starts that close at once; a third Ctrl-C forces the exit. It also stops the process when the model
  fails to load or attach, so a server never sits in "loading", and logs one INFO line, "ready: model
  ... accepting requests at http://...", once the model is in and generations are taken.
"""

from __future__ import annotations

import logging
import os
import socket

import uvicorn
from fastapi import FastAPI

from server.config import ServerConfig
from server.connections import ConnectionLimits, guarded_protocol
from server.served_model import size_name, size_names
from server.service import Service, State

logger = logging.getLogger(__name__)


class RedactQueries(logging.Filter):
    """Query strings out of uvicorn's access log: a client may put a key there (we refuse it, 401)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) > 2 and isinstance(record.args[2], str):
            path, query, _ = record.args[2].partition("?")
            if query:
                record.args = (*record.args[:2], f"{path}?<redacted>", *record.args[3:])
        return True


class ListenError(Exception):
    """The address cannot be listened on (in use, not ours, not an address)."""


def listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family, backlog=2048)
    except OSError as error:
        reason = os.strerror(error.errno) if error.errno else str(error)
        raise ListenError(f"cannot listen on {host}:{port}: {reason}") from None


class DrainingServer(uvicorn.Server):
    """uvicorn that drains through the service before it closes, and exits when the model cannot load."""

    def __init__(self, config: uvicorn.Config, service: Service) -> None:
        super().__init__(config)
        self.service = service
        self.draining = False
        self.announced = False

    def handle_exit(self, sig: int, frame) -> None:
        if self.draining:
            super().handle_exit(sig, frame)
            return
        self.draining = True
        self.service.stop_accepting()

    async def on_tick(self, counter: int) -> bool:
        if self.service.state is State.FAILED or (self.draining and self.service.idle):
            self.should_exit = True
        if not self.announced and self.service.ready:
            self.announced = True
            logger.info("ready: %s", self.readiness())
        return await super().on_tick(counter)

    def readiness(self) -> str:
        """What is served, on what, and where: "model IF-I-XL-v1.0 (sizes 64x64, 256x256, 1024x1024;
        default 1024x1024) on cuda, accepting requests at http://127.0.0.1:8000"."""
        model = self.service.model
        assert model is not None
        sizes = ", ".join(size_names(model.sizes))
        urls = " and ".join(url(sock.getsockname()) for server in self.servers for sock in server.sockets)
        served = f"model {model.id} (sizes {sizes}; default {size_name(model.default_size)})"
        return f"{served} on {model.device}, accepting requests at {urls}"


def url(address: tuple) -> str:
    """`http://host:port` for a listening socket's address (IPv6 in brackets)."""
    host, port = address[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def build_server(app: FastAPI, log_level: str = "info") -> DrainingServer:
    """The uvicorn server for `app` under its `ServerConfig`'s connection limits."""
    config: ServerConfig = app.state.config
    limits = ConnectionLimits(config.header_timeout_s, config.max_connections)
    proxy = config.forwarded_allow_ips
    uvicorn_config = uvicorn.Config(
        app,
        log_level=log_level,
        lifespan="on",
        http=guarded_protocol(limits),
        timeout_keep_alive=config.keep_alive_s,
        proxy_headers=proxy is not None,
        forwarded_allow_ips=proxy,
        server_header=False,
    )
    access_log = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactQueries) for f in access_log.filters):
        access_log.addFilter(RedactQueries())
    return DrainingServer(uvicorn_config, app.state.service)
