"""The Chalice app served as ``chalice local`` serves it (threaded), in a thread."""
from __future__ import annotations

import importlib
import json
import re
import sys
import threading
from typing import Any

from chalice.app import Chalice
from chalice.config import Config
from chalice.local import (
    ChaliceRequestHandler,
    CustomLocalChalice,
    LocalChalice,
    LocalDevServer,
    LocalGatewayException,
    ThreadedHTTPServer,
)

from chalicelib.errors import contract_body
from devstack.paths import REPO_ROOT

__all__ = ["ApiServer", "load_app", "redact_path"]

LOCAL_STAGE = "local"
# API Gateway's own integration timeout; chalice local enforces no limit itself.
LAMBDA_TIMEOUT_S = 29
# Connections waiting to be accepted. socketserver's default of 5 resets
# clients when dozens connect at once (a burst of payments, the scenario).
LISTEN_BACKLOG = 256


def load_app(module: str = "app", attribute: str = "app") -> Chalice:
    """The Chalice object of ``module`` (app.py at the project root by default)."""
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    app = getattr(importlib.import_module(module), attribute)
    if not isinstance(app, Chalice):
        raise TypeError(f"{module}.{attribute} is not a Chalice app")
    return app


class _BurstServer(ThreadedHTTPServer):
    """chalice's threaded server with a listen backlog for bursts."""

    request_queue_size = LISTEN_BACKLOG
    daemon_threads = True


# Path segments that are secrets: a card's code (half of what pays) never
# reaches an access log; the line keeps the route's template instead.
_SECRET_SEGMENTS = (re.compile(r"^(/v1/cards/)[^/?]+(/unlock)"),)


def redact_path(path: str) -> str:
    """The path as an access log keeps it: secrets replaced by the route's
    parameter name, the query string dropped (cursors, filters)."""
    path = path.split("?", 1)[0]
    for pattern in _SECRET_SEGMENTS:
        path = pattern.sub(r"\1{card_code}\2", path)
    return path


class _Handler(ChaliceRequestHandler):
    """chalice's handler with Nagle's algorithm off: it writes the headers
    and the body of a response separately, and on a kept-alive connection the
    body would otherwise wait for the client's delayed acknowledgement.
    Its access log line names the route, never a card code of the path."""

    disable_nagle_algorithm = True

    def _send_error_response(self, error: LocalGatewayException) -> None:
        """The local gateway's own answers in the contract's shape. Its 403
        for a path no route has (API Gateway's "Missing Authentication
        Token", which locally even echoed the caller's Authorization header)
        is 404 ``not_found``, as infra's Gateway Responses make it on AWS."""
        status = 404 if error.CODE == 403 else error.CODE
        self._send_json(status, contract_body(status))

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own errors (501 for an unknown method, 431 for large
        headers, 400 for a bad request line, 414) as JSON instead of HTML."""
        self.close_connection = True
        self._send_json(code, contract_body(code))

    def _send_json(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        line = f"{self.command} {redact_path(self.path)} {self.request_version}"
        self.log_message('"%s" %s %s', line, str(code), str(size))


class ApiServer:
    """``LocalDevServer`` with chalice's ThreadedHTTPServer, on its own thread."""

    def __init__(self, app: Chalice, host: str, port: int) -> None:
        config = Config.create(chalice_stage=LOCAL_STAGE, app_name=app.app_name,
                               lambda_timeout=LAMBDA_TIMEOUT_S)
        # The app object is re-classed once, as create_local_server does; a
        # second server for the same object (tests) must not do it again.
        if not isinstance(app, LocalChalice):
            CustomLocalChalice.__bases__ = (LocalChalice, app.__class__)
            app.__class__ = CustomLocalChalice
        self._server = LocalDevServer(app, config, host, port, handler_cls=_Handler, server_cls=_BurstServer)
        self.host = host
        self.port = int(self._server.server.server_address[1])
        self._thread = threading.Thread(target=self._server.server.serve_forever,
                                        name=f"api-{self.port}", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> ApiServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        self._server.server.server_close()

    def __enter__(self) -> ApiServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
