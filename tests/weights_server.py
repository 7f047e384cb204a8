"""A local HTTP server for weight downloads in tests (127.0.0.1 only; no test touches the network).

Routes map a URL path to a Route: the body, extra headers, and faults (a body cut short after
`cut` bytes while Content-Length promises all of it; a pause per chunk so a test can cancel; a
trickle of one byte per `trickle` seconds, the stall a per-read timeout never notices).
It answers HEAD like the Hugging Face hub does (X-Repo-Commit, ETag) when the route says so.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Route:
    body: bytes
    headers: dict = field(default_factory=dict)
    cut: int | None = None        # send only this many bytes, then close
    chunk_delay: float = 0.0      # seconds between 64 KiB chunks
    trickle: float = 0.0          # seconds between single bytes (the whole body, one at a time)
    hits: int = 0


def hub_headers(body: bytes, etag: str | None = None, commit: str = "0" * 39 + "1") -> dict:
    """What huggingface.co sends for an LFS file: its SHA-256 as ETag, the commit it resolved to."""
    return {"ETag": f'"{etag or hashlib.sha256(body).hexdigest()}"', "X-Repo-Commit": commit}


class WeightsServer:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _route(self):
                route = server.routes.get(self.path.split("?")[0])
                if route is None:
                    self.send_error(404)
                return route

            def _head(self, route: Route) -> None:
                self.send_response(200)
                self.send_header("Content-Length", str(len(route.body)))
                self.send_header("Content-Type", "application/octet-stream")
                for k, v in route.headers.items():
                    self.send_header(k, v)
                self.end_headers()

            def do_HEAD(self):
                route = self._route()
                if route is not None:
                    self._head(route)

            def do_GET(self):
                route = self._route()
                if route is None:
                    return
                route.hits += 1
                self._head(route)
                body = route.body if route.cut is None else route.body[:route.cut]
                step = 1 if route.trickle else 1 << 16
                try:
                    for i in range(0, len(body), step):
                        self.wfile.write(body[i:i + step])
                        self.wfile.flush()
                        if route.chunk_delay or route.trickle:
                            time.sleep(route.trickle or route.chunk_delay)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                if route.cut is not None:
                    self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def add(self, path: str, body: bytes, **kw) -> str:
        self.routes[path] = Route(body, **kw)
        return self.url + path

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
