"""A stand-in for the hydro 2.0 backend's registration API that enforces its contract.

The Laravel backend cannot run here, so `BackendDouble` is a real HTTP server (stdlib
`http.server`, one thread per request) on a loopback port that answers
`POST /api/nodes/register` the way DESIGN.md section 2 says the backend does:

- `Authorization: Bearer <token>` or 401 (an unauthenticated request counts against no limit);
- at most `per_ip` requests per source IP and `per_identity` per (source IP, identity) (the
  limiter key is the IP plus the body's `hardware_id`, else its `node_uid`; requests without
  an identity share one bucket per IP) in any sliding `window` seconds, else 429 with
  `Retry-After` (whole seconds, at least 1); a request that passed authentication counts,
  whatever its answer (Laravel's throttle counts the hit before the controller runs);
- 422 when plain mode lacks `node_uid` or hello mode (`message_type: node_hello`) lacks
  `hardware_id`;
- the same `hardware_id` maps to the same node row, keeping its uid and its node_secret;
  a new row gets a fresh 64-hex node_secret;
- 201 `{"status":"ok","data":{...node..., "config":{"node_secret":...}}}`.

Limits are per `window` seconds (60 upstream) so tests scale a minute down to seconds, and
the clock is injectable (`clock=`) so the limits themselves can be checked without sleeping.
Faults: `fail_next(n, status)` answers the next n authenticated requests with a 5xx (or
any status),
`throttle_next(n, retry_after)` with a 429, `slow_next(n, s)` holds the next n answers s
seconds, `delay` slows every answer, and
`send_secret=False` models a backend that keeps node secrets to itself.

`python -m fleet.sim.backend --port P --token-file F` runs one for trying `fleet recover
nodes` by hand.
"""

from __future__ import annotations

import json
import math
import secrets
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

REGISTER_PATH = "/api/nodes/register"


@dataclass
class BackendRow:
    """One node row upstream."""

    id: int
    uid: str
    hardware_id: str | None
    node_secret: str
    type: str | None = None
    name: str | None = None
    fw_version: str | None = None
    registrations: int = 0


@dataclass(frozen=True)
class LoggedRequest:
    """One request the double answered: who it was for and what it said."""

    node_uid: str | None
    hardware_id: str | None
    status: int
    at: float


@dataclass
class _Faults:
    fail: int = 0
    fail_status: int = 503
    throttle: int = 0
    throttle_retry_after: int | None = 1
    slow: int = 0
    slow_seconds: float = 0.0


@dataclass
class BackendDouble:
    """The registration API on `127.0.0.1:<port>`; `start()` it, `stop()` it (or use `with`)."""

    token: str
    per_identity: int = 10
    per_ip: int = 120
    window: float = 60.0
    clock: Callable[[], float] = time.monotonic
    send_secret: bool = True
    delay: float = 0.0
    rows: dict[int, BackendRow] = field(default_factory=dict)
    log: list[LoggedRequest] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._hits_ip: dict[str, deque[float]] = {}
        self._hits_identity: dict[str, deque[float]] = {}
        self._faults = _Faults()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------

    def start(self, port: int = 0) -> str:
        """Listen on loopback (`port` 0: a free one) in a background thread; returns the URL."""
        handler = _handler_for(self)
        self._server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="backend-double", daemon=True
        )
        self._thread.start()
        return self.url

    @property
    def url(self) -> str:
        """The base URL (`http://127.0.0.1:PORT`); only while started."""
        if self._server is None:
            raise RuntimeError("the backend double is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def stop(self) -> None:
        """Stop listening and join the server thread (idempotent)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> BackendDouble:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- test controls ---------------------------------------------------------------

    def preseed(self, uid: str, hardware_id: str | None, node_secret: str | None = None) -> str:
        """Add a row as if the backend's database had been restored; returns its node_secret."""
        with self._lock:
            row = self._new_row(uid, hardware_id, node_secret)
            return row.node_secret

    def fail_next(self, n: int, status: int = 503) -> None:
        """Answer the next `n` authenticated, unthrottled requests with `status` (5xx, 4xx)."""
        with self._lock:
            self._faults.fail, self._faults.fail_status = n, status

    def throttle_next(self, n: int, retry_after: int | None = 1) -> None:
        """Answer the next `n` authenticated requests with 429 (Retry-After omitted if None)."""
        with self._lock:
            self._faults.throttle, self._faults.throttle_retry_after = n, retry_after

    def slow_next(self, n: int, seconds: float) -> None:
        """Hold the next `n` requests `seconds` before answering (client timeouts)."""
        with self._lock:
            self._faults.slow, self._faults.slow_seconds = n, seconds

    def take_slow(self) -> float:
        """Seconds this request must be held (consumes one `slow_next` request)."""
        with self._lock:
            if self._faults.slow <= 0:
                return self.delay
            self._faults.slow -= 1
            return self._faults.slow_seconds

    def row_for(self, hardware_id: str | None = None, uid: str | None = None) -> BackendRow | None:
        """The row of `hardware_id` (or of `uid`), or None."""
        with self._lock:
            return self._find(hardware_id, uid)

    def statuses(self) -> dict[int, int]:
        """How many answers of each HTTP status the double has given."""
        with self._lock:
            out: dict[int, int] = {}
            for entry in self.log:
                out[entry.status] = out.get(entry.status, 0) + 1
            return out

    # -- the contract ----------------------------------------------------------------

    def _find(self, hardware_id: str | None, uid: str | None) -> BackendRow | None:
        if hardware_id:
            for row in self.rows.values():
                if row.hardware_id == hardware_id:
                    return row
            return None
        for row in self.rows.values():
            if row.uid == uid:
                return row
        return None

    def _new_row(self, uid: str, hardware_id: str | None, secret: str | None) -> BackendRow:
        row = BackendRow(len(self.rows) + 1, uid, hardware_id, secret or secrets.token_hex(32))
        self.rows[row.id] = row
        return row

    def _throttled(self, key: str, hits: dict[str, deque[float]], limit: int, now: float) -> int:
        """Seconds to wait (>= 1) when `key` is at `limit` in the window, else 0 (not counted)."""
        q = hits.setdefault(key, deque())
        while q and q[0] <= now - self.window:
            q.popleft()
        if len(q) >= limit:
            return max(1, math.ceil(q[0] + self.window - now))
        return 0

    def handle(self, ip: str, auth: str | None, body: Any) -> tuple[int, dict[str, Any], int]:
        """(status, JSON answer, Retry-After or 0) for one request; the whole contract."""
        with self._lock:
            now = self.clock()
            if auth != f"Bearer {self.token}":
                return (*self._answer(body, 401, {"message": "Unauthenticated."}, now), 0)
            key = f"{ip}|{_identity(body) or ''}"
            wait = self._throttled(ip, self._hits_ip, self.per_ip, now)
            if not wait:
                wait = self._throttled(key, self._hits_identity, self.per_identity, now)
            if not wait and self._faults.throttle > 0:
                self._faults.throttle -= 1
                retry = self._faults.throttle_retry_after
                return (
                    *self._answer(body, 429, {"message": "Too Many Attempts."}, now),
                    retry or 0,
                )
            if wait:
                return (*self._answer(body, 429, {"message": "Too Many Attempts."}, now), wait)
            self._hits_ip[ip].append(now)
            self._hits_identity[key].append(now)
            if self._faults.fail > 0:
                self._faults.fail -= 1
                status = self._faults.fail_status
                return (*self._answer(body, status, {"message": "Server Error"}, now), 0)
            problem = _invalid(body)
            if problem:
                errors = {problem: [f"The {problem} field is required."]}
                return (*self._answer(body, 422, {"message": "invalid", "errors": errors}, now), 0)
            row = self._register(body)
            return (*self._answer(body, 201, {"status": "ok", "data": self._node(row)}, now), 0)

    def _answer(
        self, body: Any, status: int, doc: dict[str, Any], now: float
    ) -> tuple[int, dict[str, Any]]:
        uid, hw = _ids(body)
        self.log.append(LoggedRequest(uid, hw, status, now))
        return status, doc

    def _register(self, body: dict[str, Any]) -> BackendRow:
        uid, hw = _ids(body)
        row = self._find(hw, uid)
        if row is None:
            row = self._new_row(uid or hw or "?", hw, None)
        if body.get("message_type") == "node_hello":
            row.type = body.get("node_type") or row.type
            row.fw_version = body.get("fw_version") or row.fw_version
        else:
            row.type = body.get("type") or row.type
            row.fw_version = body.get("firmware_version") or row.fw_version
            row.name = body.get("name") or row.name
        if hw and row.hardware_id is None:
            row.hardware_id = hw
        row.registrations += 1
        return row

    def _node(self, row: BackendRow) -> dict[str, Any]:
        config: dict[str, Any] = {"node_id": row.uid, "type": row.type}
        if self.send_secret:
            config["node_secret"] = row.node_secret
        return {
            "id": row.id,
            "uid": row.uid,
            "hardware_id": row.hardware_id,
            "type": row.type,
            "name": row.name,
            "fw_version": row.fw_version,
            "config": config,
        }


def _ids(body: Any) -> tuple[str | None, str | None]:
    """(node_uid, hardware_id) a body names, in either mode."""
    if not isinstance(body, dict):
        return None, None
    uid = body.get("node_uid")
    meta = body.get("provisioning_meta")
    if not uid and isinstance(meta, dict):
        uid = meta.get("node_uid")
    hw = body.get("hardware_id")
    return (str(uid) if uid else None), (str(hw) if hw else None)


def _identity(body: Any) -> str | None:
    uid, hw = _ids(body)
    return hw or uid


def _invalid(body: Any) -> str | None:
    """The missing required field, or None."""
    if not isinstance(body, dict):
        return "node_uid"
    if body.get("message_type") == "node_hello":
        return None if body.get("hardware_id") else "hardware_id"
    return None if body.get("node_uid") else "node_uid"


def _handler_for(double: BackendDouble) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            # headers and body go out as two writes: without NODELAY, Nagle plus delayed
            # ACKs add ~40 ms to every keep-alive answer
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the double's `log` is the record."""

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if self.path != REGISTER_PATH:
                self._send(404, {"message": "Not Found"}, 0)
                return
            try:
                body: Any = json.loads(raw or b"null")
            except ValueError:
                body = None
            hold = double.take_slow()
            if hold:
                time.sleep(hold)
            status, doc, retry_after = double.handle(
                self.client_address[0], self.headers.get("Authorization"), body
            )
            self._send(status, doc, retry_after)

        def _send(self, status: int, doc: dict[str, Any], retry_after: int) -> None:
            data = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if retry_after:
                self.send_header("Retry-After", str(retry_after))
            try:
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up waiting (a timeout test)

    return Handler


def main(argv: list[str] | None = None) -> None:
    """Run a double in the foreground: `python -m fleet.sim.backend --port P --token-file F`."""
    import argparse
    from pathlib import Path

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token-file", type=Path, required=True)
    parser.add_argument("--window", type=float, default=60.0)
    parser.add_argument("--per-ip", type=int, default=120)
    parser.add_argument("--per-identity", type=int, default=10)
    args = parser.parse_args(argv)
    token = args.token_file.read_text(encoding="utf-8").strip()
    double = BackendDouble(
        token, per_identity=args.per_identity, per_ip=args.per_ip, window=args.window
    )
    print(double.start(args.port), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        double.stop()


if __name__ == "__main__":
    main()
