"""WAL archiving through the real `fleet wal push|fetch` run by a real PostgreSQL."""

from __future__ import annotations

import hashlib
import json

import pytest

from fleet.backup.postgres.cluster import PgCluster
from fleet.backup.postgres.lsn import (
    format_lsn,
    lsn_segment,
    parse_lsn,
    segment_name,
    segment_number,
)

from .conftest import Site, switch_wal, wait_archived

pytestmark = pytest.mark.postgres


def test_segment_arithmetic_matches_postgres_names() -> None:
    """LSN and segment-name helpers agree with PostgreSQL's 16 MB naming."""
    lsn = parse_lsn("1/A3000028")
    assert "1/A3000028" == format_lsn(lsn)
    assert "0000000200000001000000A3" == segment_name(2, lsn_segment(lsn))
    assert lsn_segment(lsn) == segment_number("0000000200000001000000A3")


def test_segments_arrive_and_fetch_back_identical(site: Site, archiving_cluster: PgCluster) -> None:
    """A switched segment lands encrypted in the repository and fetches back byte-identical."""
    archiving_cluster.query("CREATE TABLE t AS SELECT g FROM generate_series(1, 1000) g")
    name = switch_wal(archiving_cluster)
    wait_archived(site, name)
    original = (archiving_cluster.data_dir / "pg_wal" / name).read_bytes()
    stored = site.archive.data_path(name).read_bytes()
    assert b"age-encryption.org/v1" == stored[:21]
    assert original[:4096] not in stored

    dest = site.root / "fetched"
    done = site.fleet("wal", "fetch", name, str(dest))
    assert 0 == done.returncode, done.stderr
    assert hashlib.sha256(original).hexdigest() == hashlib.sha256(dest.read_bytes()).hexdigest()


def test_identical_repush_is_accepted(site: Site, archiving_cluster: PgCluster) -> None:
    """Pushing a segment that is already archived with the same bytes succeeds (crash retry)."""
    archiving_cluster.query("CREATE TABLE t (x int); INSERT INTO t VALUES (1)")
    name = switch_wal(archiving_cluster)
    wait_archived(site, name)
    copy = site.root / "again" / name
    copy.parent.mkdir()
    copy.write_bytes((archiving_cluster.data_dir / "pg_wal" / name).read_bytes())

    done = site.fleet("wal", "push", str(copy), "--json")

    assert 0 == done.returncode, done.stderr
    assert "already" == json.loads(done.stdout)["outcome"]


def test_different_file_under_archived_name_is_refused(
    site: Site, archiving_cluster: PgCluster
) -> None:
    """A different file under an archived name exits non-zero, names it, and changes nothing."""
    archiving_cluster.query("CREATE TABLE t (x int); INSERT INTO t VALUES (1)")
    name = switch_wal(archiving_cluster)
    wait_archived(site, name)
    before = site.archive.data_path(name).read_bytes()
    forged = site.root / "forged" / name
    forged.parent.mkdir()
    forged.write_bytes(b"\x00" * 16 * 1024 * 1024)

    done = site.fleet("wal", "push", str(forged))

    message = " ".join(done.stderr.split())
    assert 73 == done.returncode
    assert name in message
    assert "already archived with different content" in message
    assert before == site.archive.data_path(name).read_bytes()


def test_fetch_of_unarchived_name_fails_cleanly(site: Site) -> None:
    """Asking for a segment past the archive's end exits 66 and writes no file."""
    dest = site.root / "nothing"
    done = site.fleet("wal", "fetch", "000000010000000000000099", str(dest))
    assert 66 == done.returncode
    assert not dest.exists()


def test_push_refuses_names_postgres_never_archives(site: Site) -> None:
    """A file whose name is not a WAL/history/backup name is refused (no path games)."""
    odd = site.root / "notes.txt"
    odd.write_bytes(b"hello")
    done = site.fleet("wal", "push", str(odd))
    assert 2 == done.returncode
    assert "notes.txt" in done.stderr


def test_fetch_with_wrong_identity_is_named(site: Site, archiving_cluster: PgCluster) -> None:
    """A fetch with an identity that is not a recipient fails naming the segment."""
    from pyrage import x25519

    archiving_cluster.query("CREATE TABLE t (x int)")
    name = switch_wal(archiving_cluster)
    wait_archived(site, name)
    site.identity_file.write_text(f"{x25519.Identity.generate()}\n", encoding="utf-8")

    done = site.fleet("wal", "fetch", name, str(site.root / "x"))

    assert 74 == done.returncode
    assert name in done.stderr
