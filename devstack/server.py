"""The Chalice app served as ``chalice local`` serves it (threaded), in a thread."""
from __future__ import annotations

import importlib
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
    ThreadedHTTPServer,
)

from devstack.paths import REPO_ROOT

__all__ = ["ApiServer", "load_app"]

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


class _Handler(ChaliceRequestHandler):
    """chalice's handler with Nagle's algorithm off: it writes the headers
    and the body of a response separately, and on a kept-alive connection the
    body would otherwise wait for the client's delayed acknowledgement."""

    disable_nagle_algorithm = True


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
