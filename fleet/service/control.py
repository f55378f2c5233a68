"""Endpoints of a running `fleet serve`.

* Control: a Unix socket in the data directory (mode 0600, so only its owner can drive
  the service). Protocol: one JSON object per line in, one JSON object per line out;
  requests carry `"op"`, answers carry `"ok"` and either the result or `"error"`.
* Metrics: plain HTTP on loopback, `GET /metrics` in Prometheus text format.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fleet import errors
from fleet.errors import ConfigError, FleetError, MissingPrerequisite, UsageError
from fleet.service.metrics import CONTENT_TYPE

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
MAX_REQUEST = 1 << 20
SUN_PATH_MAX = 107


async def serve_control(path: Path, handler: Handler) -> asyncio.Server:
    """Listen on the Unix socket `path` (replacing a stale one); mode 0600."""
    if len(os.fsencode(path)) > SUN_PATH_MAX:
        raise UsageError(f"control socket path {path} is longer than {SUN_PATH_MAX} bytes")
    if path.exists():
        if _alive(path):
            raise UsageError(f"another fleet serve already listens on {path}")
        path.unlink()

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                try:
                    req = json.loads(line)
                    if not isinstance(req, dict):
                        raise UsageError("request is not a JSON object")
                    answer = {"ok": True, **(await handler(req))}
                except FleetError as exc:
                    answer = {"ok": False, "error": exc.to_dict()}
                except ValueError as exc:
                    answer = {"ok": False, "error": {"error": "UsageError", "message": str(exc)}}
                writer.write(json.dumps(answer, default=str).encode() + b"\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    old = os.umask(0o177)
    try:
        server = await asyncio.start_unix_server(on_client, path=str(path), limit=MAX_REQUEST)
    except OSError as exc:
        raise ConfigError(f"control socket {path}: {exc.strerror or exc}") from None
    finally:
        os.umask(old)
    os.chmod(path, 0o600)
    return server


def _alive(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        try:
            s.connect(str(path))
            return True
        except OSError:
            return False


def call(path: Path, request: dict[str, Any], timeout: float = 60.0) -> dict[str, Any]:
    """Send one request to the running service (blocking); MissingPrerequisite if none runs.

    Returns the answer; a FleetError answered by the service is re-raised here with
    its message and exit code.
    """
    if not path.exists():
        raise MissingPrerequisite(f"no fleet serve is running (no control socket {path})")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        try:
            s.connect(str(path))
        except OSError as exc:
            raise MissingPrerequisite(f"no fleet serve answers on {path}: {exc}") from None
        s.sendall(json.dumps(request).encode() + b"\n")
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    answer: dict[str, Any] = json.loads(buf)
    if not answer.get("ok"):
        raise rebuild_error(answer.get("error") or {})
    return answer


def rebuild_error(err: dict[str, Any]) -> FleetError:
    """The FleetError subclass named in a service answer, carrying the service's message."""
    cls = getattr(errors, str(err.get("error", "")), None)
    if not (isinstance(cls, type) and issubclass(cls, FleetError)):
        cls = FleetError
    out = cls.__new__(cls)
    FleetError.__init__(out, str(err.get("message", "service error")))
    return out


async def serve_metrics(host: str, port: int, render: Callable[[], str]) -> asyncio.Server:
    """Plain HTTP on `host:port` answering `GET /metrics` (anything else: 404)."""

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
            request_line = head.split(b"\r\n", 1)[0].decode("latin-1").split()
            if (
                len(request_line) >= 2
                and request_line[0] == "GET"
                and (request_line[1].split("?")[0] == "/metrics")
            ):
                body = render().encode()
                status, ctype = "200 OK", CONTENT_TYPE
            else:
                body, status, ctype = b"not found\n", "404 Not Found", "text/plain"
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except ConnectionError:
            pass
        finally:
            with contextlib.suppress(ConnectionError):
                writer.close()

    try:
        return await asyncio.start_server(on_client, host, port)
    except OSError as exc:
        raise ConfigError(
            f"metrics endpoint {host}:{port}: {exc.strerror or exc} "
            "(setting service.metrics_port; 0 = any free port)"
        ) from None
