"""`mnistbench serve`: the web board, live and read-only, from the standard library's HTTP server.

Every GET of / reads the board afresh and renders the same page as `export --format html`; /data.json
gives its data. Nothing else is answered (no file serving, no writes: other methods get 405). The board
is opened the read-only way: a SQLite file through a read-only connection, never reaped or migrated;
another database through the Store without reaping (give it a read-only role: `db setup-class` makes one).
"""

from __future__ import annotations

import json
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

from .errors import MnistbenchError, StoreError
from .schema import default_url, public_url


def open_read_only(url: str):
    """A reader that cannot write (quickread.open_reader's door for `serve`)."""
    from .quickread import open_reader  # noqa: PLC0415

    return open_reader(url, never_write=True)


def make_handler(url: str):
    from .webboard import json_safe, page_data, render_page  # noqa: PLC0415

    source = public_url(url)

    class BoardHandler(BaseHTTPRequestHandler):
        server_version = "mnistbench"

        def do_GET(self):  # noqa: N802 (the stdlib's name)
            route = self.path.split("?", 1)[0]
            if route not in ("/", "/index.html", "/data.json"):
                return self._send(HTTPStatus.NOT_FOUND, "text/plain", b"not found\n")
            try:
                reader = open_read_only(url)
                try:
                    data = json_safe(page_data(reader, source))
                finally:
                    reader.close()
            except MnistbenchError as exc:
                return self._send(HTTPStatus.SERVICE_UNAVAILABLE, "text/plain",
                                  f"error: {str(exc).splitlines()[0]}\n".encode())
            if route == "/data.json":
                return self._send(HTTPStatus.OK, "application/json", json.dumps(data, default=str).encode())
            self._send(HTTPStatus.OK, "text/html; charset=utf-8", render_page(data).encode())

        def do_HEAD(self):  # noqa: N802  (the headers of GET, no body: _send leaves it out)
            self.do_GET()

        def _refuse(self):
            self._send(HTTPStatus.METHOD_NOT_ALLOWED, "text/plain", b"read-only board\n", allow="GET, HEAD")

        do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse  # noqa: N815

        def _send(self, status, kind: str, body: bytes, **headers):
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            for name, value in headers.items():
                self.send_header(name.title(), value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def log_message(self, format, *args):  # noqa: A002 (the stdlib's signature): quiet by default
            pass

    return BoardHandler


def make_server(url: str | None, host: str, port: int) -> ThreadingHTTPServer:
    url = url or default_url()
    open_read_only(url).close()  # a wrong URL fails here, in one line, before the server listens
    try:
        return ThreadingHTTPServer((host, port), make_handler(url))
    except OSError as exc:
        raise StoreError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def serve_board(url: str | None, host: str, port: int, on_ready: Callable[[str], None] | None = None) -> None:
    server = make_server(url, host, port)
    bound_host, bound_port = server.server_address[:2]
    if on_ready:
        on_ready(f"http://{bound_host}:{bound_port}/")
    try:
        server.serve_forever()
    finally:
        server.server_close()
