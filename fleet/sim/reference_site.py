"""The reference site of the backup and drill benchmarks (public testing aid).

A Laravel-like folder of OTA-like binaries and a `hydro` database with a telemetry table,
sized by the caller (the issues' reference: 200 MiB of files, 1,000,000 rows).
"""

from __future__ import annotations

import os
from pathlib import Path

from fleet.backup.postgres.cluster import PgCluster

CHUNK = 4 * 1024 * 1024


def make_reference_files(root: Path, total_mb: int) -> None:
    """Random 4 MiB OTA-like binaries, `total_mb` MiB in all, plus `.env` and composer.lock."""
    ota = root / "storage/app/ota"
    ota.mkdir(parents=True)
    (root / ".env").write_text("APP_KEY=base64:xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx=\n")
    (root / "composer.lock").write_text('{"packages": []}\n' * 2000)
    for i in range(total_mb // 4):
        (ota / f"fw-{i:03d}.bin").write_bytes(os.urandom(CHUNK))


def make_reference_db(cluster: PgCluster, rows: int) -> None:
    """Database `hydro` with an indexed telemetry table of `rows` rows (15 s apart)."""
    cluster.query("CREATE DATABASE hydro")
    with cluster.connect("hydro") as con:
        con.execute(
            "CREATE TABLE telemetry (id bigserial PRIMARY KEY, node_uid text NOT NULL, "
            "channel text NOT NULL, ts timestamptz NOT NULL, value double precision)"
        )
        con.execute(
            "INSERT INTO telemetry (node_uid, channel, ts, value) "
            "SELECT 'nd-ph-' || (g %% 50), 'ph', now() - g * interval '15 s', random() * 14 "
            "FROM generate_series(1, %s) g",
            (rows,),
        )
        con.execute("CREATE INDEX telemetry_node_ts ON telemetry (node_uid, ts)")
        con.commit()
