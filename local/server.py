"""The HTTP server in front of the gateway: one thread per connection, a clean stop.

`ThreadingHTTPServer` answers concurrent clients (DuckDB and SQLite release the interpreter
while they work, so threads do run queries side by side). The server keeps its connection
threads non-daemon and tracks their sockets, so a stop closes idle keep-alive connections,
lets requests in flight finish, joins every thread and releases the port: Ctrl-C ends the
process with status 0 and no traceback.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from local import docs
from local.events import IncomingRequest
from local.gateway import Gateway, GatewayResponse, access_log, problem
from serving_layer.errors import BadRequestError, ServingError

logger = logging.getLogger(__name__)

IDLE_CONNECTION_SECONDS = 30
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


class LocalServer(ThreadingHTTPServer):
    """A threading HTTP server that can close its open connections when asked to stop."""

    daemon_threads = False
    block_on_close = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], gateway: Gateway) -> None:
        self.gateway = gateway
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, RequestHandler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Stop reading from every open connection: idle ones end, busy ones finish answering."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by the client
                connection.shutdown(socket.SHUT_RD)

    def stop(self) -> None:
        """Stop accepting, end the connections, join their threads and release the port."""
        self.shutdown()
        self.close_connections()
        self.server_close()


class RequestHandler(BaseHTTPRequestHandler):
    """Reads one HTTP request, hands it to the docs page or the gateway, writes the answer."""

    protocol_version = "HTTP/1.1"
    server_version = "serving-layer-local"
    timeout = IDLE_CONNECTION_SECONDS
    # Headers and body leave in one buffered write, and with Nagle's algorithm off: otherwise a
    # small answer waits for the client's delayed ACK (about 40 ms on Linux) on every request.
    wbufsize = 64 * 1024
    disable_nagle_algorithm = True
    server: LocalServer

    def do_GET(self) -> None:
        self._answer()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET

    def _answer(self) -> None:
        path = self.path.split("?", 1)[0]
        try:
            body = self._body()
        except ServingError as error:
            self.close_connection = True
            self._write(problem(error, path, "-"))
            return

        if docs.is_docs_path(path) and self.command in ("GET", "HEAD"):
            started = time.perf_counter()
            response = self._docs(path)
            self._write(response)
            access_log.info(
                "%s %s %d %.1f ms key_id=- request_id=-",
                self.command,
                path,
                response.status,
                (time.perf_counter() - started) * 1000,
            )
            return

        request = IncomingRequest(
            method=self.command,
            target=self.path,
            headers=list(self.headers.items()),
            body=body,
            source_ip=self.client_address[0],
            protocol=self.request_version,
        )
        self._write(self.server.gateway.handle(request))

    def _body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._chunked_body()
        length = self.headers.get("Content-Length")
        if not length:
            return b""
        if not length.isdigit():
            raise BadRequestError("Content-Length must be a whole number of bytes")
        return self.rfile.read(int(length))

    def _chunked_body(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            size_line = self.rfile.readline(1024).split(b";", 1)[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError:
                raise BadRequestError("the chunked body is malformed") from None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers, which the gateway ignores
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def _docs(self, path: str) -> GatewayResponse:
        try:
            page = docs.answer(path)
        except ServingError as error:
            return problem(error, path, "-")
        headers = [("Content-Type", page.content_type)]
        if page.cache_seconds:
            headers.append(("Cache-Control", f"max-age={page.cache_seconds}"))
        return GatewayResponse(page.status, headers, page.body, "-")

    def _write(self, response: GatewayResponse) -> None:
        self.send_response(response.status)
        for name, value in response.headers:
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the base class's stderr lines: the gateway writes the access log."""

    def log_error(self, format: str, *args: Any) -> None:
        logger.debug("connection from %s: " + format, self.client_address[0], *args)


def serve(
    gateway: Gateway,
    host: str = "127.0.0.1",
    port: int = 3000,
    on_ready: Callable[[LocalServer], None] | None = None,
) -> int:
    """Serve until SIGINT or SIGTERM, then stop cleanly; the process's exit status."""
    server = LocalServer((host, port), gateway)
    stop = threading.Event()

    def request_stop(signum: int, _: Any) -> None:
        logger.info("stopping (%s)", signal.Signals(signum).name)
        stop.set()

    previous = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="local-server"
    )
    thread.start()
    try:
        if on_ready is not None:
            on_ready(server)
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
        thread.join()
        for number, handler in previous.items():
            signal.signal(number, handler)
    logger.info("stopped")
    return 0
