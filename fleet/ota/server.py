"""The firmware server of an OTA run: a small threaded HTTP server for signed URLs.

It serves only the app images registered with `add_file`, only through URLs signed by
its own in-memory key (`fleet.ota.url`), and answers 403 to an expired or
tampered URL, 404 to anything else. It logs paths, never query strings (a signed URL is
a bearer credential until it expires). Downloads and refusals are counted per node.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from collections import Counter
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

from fleet.errors import MissingPrerequisite, NotFound
from fleet.ota.url import UrlRefused, sign_url, verify_url

log = logging.getLogger(__name__)

CHUNK = 64 * 1024


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._serve(body=True)

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def _serve(self, body: bool) -> None:
        owner = self.server.owner
        parts = urlsplit(self.path)
        try:
            grant = verify_url(owner.key, parts.path, parts.query, owner.now_ms())
        except UrlRefused as exc:
            owner.count_refused(str(exc.context.get("reason", "refused")), exc.detail)
            self._plain(HTTPStatus.FORBIDDEN, "forbidden\n")
            return
        path = owner.files.get(grant.firmware_id)
        if path is None:
            self._plain(HTTPStatus.NOT_FOUND, "no such firmware\n")
            return
        size = path.stat().st_size
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        if body:
            with path.open("rb") as fh:
                shutil.copyfileobj(fh, self.wfile, CHUNK)
            owner.count_download(grant.node_uid, grant.firmware_id)

    def _plain(self, status: HTTPStatus, text: str) -> None:
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        # the request line holds the signed query: log the path only
        log.debug("%s %s %s", self.address_string(), self.command, urlsplit(self.path).path)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: OtaServer


class OtaServer:
    """Serves registered app images over signed URLs on `host:port` (0 = any free port).

    `public_url` is the base the nodes use (default `http://host:port`); `ttl` s is how
    long a URL stays valid; `clock` gives unix seconds (tests move it). Use as a context
    manager, or `start()` / `stop()`.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        public_url: str | None = None,
        *,
        key: bytes | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.host, self.port = host, port
        self.public_url = public_url
        self.key = key or os.urandom(32)
        self.clock = clock
        self.files: dict[str, Path] = {}
        self.downloads: Counter[str] = Counter()  # node_uid -> completed downloads
        self.refused: Counter[str] = Counter()  # "expired" | "bad_signature" | "malformed"
        self._lock = threading.Lock()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """The base of the URLs handed to nodes."""
        return self.public_url or f"http://{self.host}:{self.port}"

    def now_ms(self) -> int:
        """The server's clock in unix milliseconds."""
        return int(self.clock() * 1000)

    def add_file(self, firmware_id: str, path: Path) -> None:
        """Offer `path` as the app image of `firmware_id` (NotFound when it is missing)."""
        if not path.is_file():
            raise NotFound(f"firmware {firmware_id}: app image {path} is missing")
        self.files[firmware_id] = path

    def url_for(self, firmware_id: str, node_uid: str, ttl: float) -> tuple[str, int]:
        """A URL letting `node_uid` fetch `firmware_id` for `ttl` s; (url, expiry unix ms)."""
        if firmware_id not in self.files:
            raise NotFound(f"firmware {firmware_id} is not offered by this OTA server")
        expires = self.now_ms() + int(ttl * 1000)
        return sign_url(self.key, self.base_url, firmware_id, node_uid, expires), expires

    def count_download(self, node_uid: str, firmware_id: str) -> None:
        with self._lock:
            self.downloads[node_uid] += 1
        log.info("node %s downloaded firmware %s", node_uid, firmware_id)

    def count_refused(self, reason: str, detail: str) -> None:
        with self._lock:
            self.refused[reason] += 1
        log.warning("refused %s", detail)

    def start(self) -> None:
        """Bind and serve in a background thread; MissingPrerequisite naming the address."""
        try:
            httpd = _Server((self.host, self.port), _Handler)
        except OSError as exc:
            raise MissingPrerequisite(
                f"OTA server cannot listen on {self.host}:{self.port}: {exc.strerror}"
            ) from exc
        httpd.owner = self
        self.port = int(httpd.server_address[1])
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.2}, name="fleet-ota-http"
        )
        self._thread.daemon = True
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket (idempotent)."""
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> OtaServer:
        self.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
