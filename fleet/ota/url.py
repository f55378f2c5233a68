"""Signed firmware URLs for OTA: an HMAC over file, node and expiry (pure, no I/O).

A URL looks like `{base}/ota/{firmware_id}/app.bin?node={node_uid}&exp={unix_ms}&sig={hex}`
with `sig = hex(HMAC-SHA256(key, "GET\\n{path}\\n{node_uid}\\n{exp}"))`. The key lives only
in the memory of the process that serves the files (a fresh one per `fleet ota` run), so
a URL is worthless once that run is over, and it is never written anywhere. Changing the
path (another firmware), the node or the expiry breaks the signature.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode

from fleet.errors import ValidationError

PATH_RE = re.compile(r"^/ota/(?P<fw>[0-9a-f]{4,32})/app\.bin$")
SIG_HEX = 64


class UrlRefused(ValidationError):
    """firmware URL refused: {detail}"""


@dataclass(frozen=True)
class UrlGrant:
    """What a valid signed URL allows: one node to fetch one firmware until `expires_ms`."""

    firmware_id: str
    node_uid: str
    expires_ms: int


def file_path(firmware_id: str) -> str:
    """The URL path of a firmware's app image."""
    return f"/ota/{firmware_id}/app.bin"


def _mac(key: bytes, path: str, node_uid: str, expires_ms: int) -> str:
    message = f"GET\n{path}\n{node_uid}\n{expires_ms}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def sign_url(key: bytes, base_url: str, firmware_id: str, node_uid: str, expires_ms: int) -> str:
    """The signed URL letting `node_uid` download `firmware_id` until `expires_ms` (unix ms)."""
    path = file_path(firmware_id)
    query = urlencode(
        {"node": node_uid, "exp": expires_ms, "sig": _mac(key, path, node_uid, expires_ms)}
    )
    return f"{base_url.rstrip('/')}{path}?{query}"


def verify_url(key: bytes, path: str, query: str, now_ms: int) -> UrlGrant:
    """Check a request's path and query string; the grant, or UrlRefused saying why.

    Refused: a path that is not a firmware image, a missing or malformed node/exp/sig,
    a signature that does not match (tampered path, node or expiry), or `now_ms` past
    the expiry. The signature is compared in constant time.
    """
    match = PATH_RE.match(path)
    if match is None:
        raise UrlRefused(f"{path} is not a firmware image path", reason="malformed")
    params = parse_qs(query, keep_blank_values=True)
    node = params.get("node", [""])[0]
    exp_text = params.get("exp", [""])[0]
    sig = params.get("sig", [""])[0].lower()
    if not node or not exp_text.isdigit() or len(sig) != SIG_HEX:
        raise UrlRefused(f"{path}: node, exp and sig are required", reason="malformed")
    expires_ms = int(exp_text)
    if not hmac.compare_digest(_mac(key, path, node, expires_ms), sig):
        raise UrlRefused(f"{path} for node {node}: bad signature", reason="bad_signature")
    if now_ms > expires_ms:
        raise UrlRefused(
            f"{path} for node {node}: expired {now_ms - expires_ms} ms ago", reason="expired"
        )
    return UrlGrant(match.group("fw"), node, expires_ms)
