"""Test helpers: a scripted HTTP server standing in for upstream data services."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass
class Reply:
    """One scripted answer: HTTP status, body, and an optional delay before answering."""

    status: int = 200
    body: bytes = b""
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    drip: float = 0.0  # seconds between single bytes of the body (a stalling server)


@dataclass
class Upstream:
    """A scripted HTTP server. ``routes[path]`` is a list of replies used in turn (the last one
    repeats); ``hits[path]`` counts requests; ``requests`` keeps (path, headers)."""

    url: str
    routes: dict[str, list[Reply]] = field(default_factory=dict)
    hits: dict[str, int] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def serve(self, path: str, *replies: Reply) -> None:
        self.routes[path] = list(replies)


@contextmanager
def serve_upstream() -> Iterator[Upstream]:
    """Run an :class:`Upstream` on 127.0.0.1 (ephemeral port) for the duration of the block."""
    state = Upstream(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            full = self.path
            path = full if full in state.routes else full.split("?", 1)[0]
            state.requests.append((full, dict(self.headers)))
            n = state.hits.get(path, 0)
            state.hits[path] = n + 1
            replies = state.routes.get(path)
            if not replies:
                self.send_response(404)
                self.end_headers()
                return
            reply = replies[min(n, len(replies) - 1)]
            if reply.delay:
                time.sleep(reply.delay)
            self.send_response(reply.status)
            self.send_header("Content-Length", str(len(reply.body)))
            for key, value in reply.headers.items():
                self.send_header(key, value)
            self.end_headers()
            with suppress(BrokenPipeError, ConnectionResetError):
                if reply.drip:
                    for i in range(len(reply.body)):
                        self.wfile.write(reply.body[i : i + 1])
                        self.wfile.flush()
                        time.sleep(reply.drip)
                else:
                    self.wfile.write(reply.body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def cache_flagship_panel(data_dir: str, build_dir: str) -> str:
    """Build and cache a small NYSE-close panel (run in a separate process by the cache tests)."""
    import os

    os.environ["SHOCKLAB_OFFLINE"] = "1"
    from shocklab.data import cached, nyse_close_panel

    panel = nyse_close_panel(["NVDA", "BTCUSDT"], "2025-01-21", "2025-01-31", data_dir=data_dir)
    return str(cached(panel, "race", cache_dir=build_dir).attrs["cache_path"])


def symlinked_root(mirror: Path, tmp: Path, drop: tuple[str, ...] = ()) -> Path:
    """A data root of symlinks to the mirror's files (never copies), without the files or
    folders in ``drop`` (paths relative to the root): a root that lacks one source."""
    root = tmp / "root"
    for path in mirror.rglob("*"):
        rel = path.relative_to(mirror).as_posix()
        if path.is_dir() or any(rel == d or rel.startswith(d + "/") for d in drop):
            continue
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(path)
    return root
