"""The firmware server: signed URLs give exactly the image; expired or tampered ones get 403."""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from fleet.ota.server import OtaServer
from fleet.ota.url import UrlRefused, sign_url, verify_url

KEY = b"k" * 32


def fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""


@pytest.fixture
def server(tmp_path: Path) -> OtaServer:
    (tmp_path / "a.bin").write_bytes(b"\xe9" + bytes(range(256)) * 300)
    (tmp_path / "b.bin").write_bytes(b"\xe9other")
    s = OtaServer("127.0.0.1", 0)
    s.add_file("aaaa1111", tmp_path / "a.bin")
    s.add_file("bbbb2222", tmp_path / "b.bin")
    return s


def test_signed_url_serves_the_exact_image(server: OtaServer, tmp_path: Path) -> None:
    """A fresh signed URL downloads the registered file byte for byte."""
    with server:
        url, _ = server.url_for("aaaa1111", "nd-ph-1", ttl=60)
        status, body = fetch(url)
    assert (200, (tmp_path / "a.bin").read_bytes()) == (status, body)
    assert 1 == server.downloads["nd-ph-1"]


def test_expired_url_is_refused_with_403(server: OtaServer) -> None:
    """Past its expiry a URL is refused (403) and counted as expired."""
    with server:
        url, _ = server.url_for("aaaa1111", "nd-ph-1", ttl=60)
        server.clock = lambda: 4_000_000_000.0  # far past the expiry
        status, body = fetch(url)
    assert (403, b"") == (status, body)
    assert 1 == server.refused["expired"]


def test_tampered_urls_are_refused_with_403(server: OtaServer) -> None:
    """Another file, another node, a later expiry or a changed signature: all 403."""
    with server:
        url, exp = server.url_for("aaaa1111", "nd-ph-1", ttl=60)
        tampered = [
            url.replace("/ota/aaaa1111/", "/ota/bbbb2222/"),
            url.replace("node=nd-ph-1", "node=nd-ph-2"),
            url.replace(f"exp={exp}", f"exp={exp + 3_600_000}"),
            url[:-1] + ("0" if url[-1] != "0" else "1"),
            url.split("?")[0],
        ]
        statuses = [fetch(u)[0] for u in tampered]
    assert [403] * 5 == statuses
    assert 0 == sum(server.downloads.values())


def test_url_bound_to_one_file_node_and_expiry() -> None:
    """verify_url gives back exactly what was signed, and refuses another key."""
    url = sign_url(KEY, "http://h:1", "abcd1234", "nd-1", 5_000)
    path, query = url.removeprefix("http://h:1").split("?")
    grant = verify_url(KEY, path, query, now_ms=4_000)
    assert ("abcd1234", "nd-1", 5_000) == (grant.firmware_id, grant.node_uid, grant.expires_ms)
    with pytest.raises(UrlRefused, match="bad signature"):
        verify_url(b"x" * 32, path, query, now_ms=4_000)


def test_server_logs_never_hold_the_signature(
    server: OtaServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The signed query string (a bearer credential) never reaches the log."""
    caplog.set_level(logging.DEBUG, logger="fleet.ota.server")
    with server:
        url, _ = server.url_for("aaaa1111", "nd-ph-1", ttl=60)
        fetch(url)
        fetch(url + "0")
    sig = url.rsplit("sig=", 1)[1]
    assert caplog.records
    assert sig not in caplog.text and "sig=" not in caplog.text
