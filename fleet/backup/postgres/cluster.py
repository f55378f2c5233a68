"""A throwaway PostgreSQL cluster: initdb into a temp folder, start on a free loopback port.

Used by tests, drills, point-in-time recovery and the demo. The cluster runs as the current
user, or as `postgres` (through `runuser`) when we are root, with its folder owned by that
user; it listens on 127.0.0.1 only, with `trust` authentication, and no Unix socket. It is
stopped by the PID in its `postmaster.pid`, never by name.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from fleet.backup.postgres.tools import ClusterUser, cluster_user, find_tool
from fleet.errors import BackupError

SUPERUSER = "postgres"
DEFAULT_MAJOR = 15


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _conf_value(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, int | float):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); reap it if it is ours.
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    return True


@dataclass
class PgCluster:
    """One local cluster: its folder, port, the user it runs as and its server programs."""

    base: Path
    port: int
    major: int = DEFAULT_MAJOR
    user: ClusterUser = field(default_factory=cluster_user)
    owns_base: bool = True
    data: Path | None = None  # default: <base>/data

    @property
    def data_dir(self) -> Path:
        return self.data if self.data is not None else self.base / "data"

    @property
    def log_file(self) -> Path:
        if self.data is not None:
            return self.data.with_name(f"{self.data.name}.server.log")
        return self.base / "server.log"

    def dsn(self, dbname: str = "postgres") -> str:
        """libpq connection string for `dbname` as the superuser."""
        return f"host=127.0.0.1 port={self.port} user={SUPERUSER} dbname={dbname}"

    def url(self, dbname: str = "postgres") -> str:
        """The same as a `postgresql://` URL (the form settings use)."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{dbname}"

    def connect(self, dbname: str = "postgres") -> psycopg.Connection[Any]:
        """An autocommit connection to `dbname`."""
        return psycopg.connect(self.dsn(dbname), autocommit=True)

    def query(self, sql: str, dbname: str = "postgres") -> list[tuple[Any, ...]]:
        """Run one statement and return its rows (empty for statements without a result)."""
        with self.connect(dbname) as conn, conn.cursor() as cur:
            cur.execute(sql.encode())
            return list(cur.fetchall()) if cur.description else []

    # -- lifecycle -----------------------------------------------------------------------

    @classmethod
    def prepare_base(cls, parent: Path | None = None, user: ClusterUser | None = None) -> Path:
        """A fresh folder the cluster user owns and can reach (under the system temp dir)."""
        who = user or cluster_user()
        base = Path(tempfile.mkdtemp(prefix="fleet-pg-", dir=parent))
        base.chmod(0o755)
        who.chown(base)
        return base

    @classmethod
    def create(
        cls,
        parent: Path | None = None,
        port: int | None = None,
        conf: Mapping[str, Any] | None = None,
        major: int = DEFAULT_MAJOR,
    ) -> PgCluster:
        """initdb a new cluster (superuser `postgres`, UTF8, C locale); not started.

        `conf` lines are appended to postgresql.conf. Raises MissingPrerequisite when initdb
        is missing, BackupError (with initdb's output) when it fails.
        """
        user = cluster_user()
        base = cls.prepare_base(parent, user)
        cluster = cls(base=base, port=port or free_port(), major=major, user=user)
        initdb = find_tool("initdb", major)
        cmd = user.wrap(
            [
                str(initdb),
                "-D",
                str(cluster.data_dir),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-instructions",
            ]
        )
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise BackupError(f"initdb into {cluster.data_dir} failed: {done.stderr.strip()}")
        cluster.configure({"fsync": False, **dict(conf or {})})
        return cluster

    @classmethod
    def adopt(
        cls,
        base: Path,
        port: int | None = None,
        major: int = DEFAULT_MAJOR,
        data: Path | None = None,
        owns_base: bool = False,
    ) -> PgCluster:
        """A cluster over an existing data folder (`data`, default `base/data`), e.g. a
        restored base backup. Its folder is deleted by `destroy` only with `owns_base`."""
        return cls(base=base, port=port or free_port(), major=major, owns_base=owns_base, data=data)

    def configure(self, conf: Mapping[str, Any], file: str = "postgresql.conf") -> None:
        """Append settings to `file` in the data folder (later lines win); loopback-only
        listening on `port` without a Unix socket is always part of it."""
        lines = {
            "listen_addresses": "127.0.0.1",
            "port": self.port,
            "unix_socket_directories": "",
            **dict(conf),
        }
        text = "\n# fleet throwaway cluster\n" + "".join(
            f"{key} = {_conf_value(value)}\n" for key, value in lines.items()
        )
        conf_file = self.data_dir / file
        with conf_file.open("a", encoding="utf-8") as fh:
            fh.write(text)
        self.user.chown(conf_file)

    def start(self, timeout: float = 60.0, wait: bool = True) -> None:
        """Start the server (`pg_ctl start`); with `wait`, return once it accepts connections.

        Raises BackupError with the tail of the server log when it does not come up.
        """
        self.log_file.touch()
        self.user.chown(self.log_file)
        pg_ctl = find_tool("pg_ctl", self.major)
        cmd = [str(pg_ctl), "-D", str(self.data_dir), "-l", str(self.log_file)]
        cmd += ["-w", "-t", str(int(timeout))] if wait else ["-W"]
        done = subprocess.run(
            self.user.wrap([*cmd, "start"]), capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise BackupError(
                f"PostgreSQL in {self.data_dir} (port {self.port}) did not start: {self.log_tail()}"
            )

    def pid(self) -> int | None:
        """The postmaster's PID from postmaster.pid, or None when it is not running."""
        pid_file = self.data_dir / "postmaster.pid"
        try:
            first = pid_file.read_text(encoding="utf-8").splitlines()[0]
        except (FileNotFoundError, IndexError):
            return None
        pid = int(first.strip())
        return pid if _pid_alive(pid) else None

    def running(self) -> bool:
        """Whether the postmaster of this folder is alive."""
        return self.pid() is not None

    def stop(self, timeout: float = 30.0) -> None:
        """Fast shutdown by PID (SIGINT), then immediate (SIGQUIT), then SIGKILL; idempotent."""
        pid = self.pid()
        if pid is None:
            return
        for sig, wait in ((signal.SIGINT, timeout), (signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                if not _pid_alive(pid):
                    return
                time.sleep(0.05)

    def destroy(self) -> None:
        """Stop the server and delete its folder (only a folder this object created)."""
        self.stop()
        if self.owns_base:
            shutil.rmtree(self.base, ignore_errors=True)

    def log_tail(self, lines: int = 15) -> str:
        """The last lines of the server log (for error messages)."""
        try:
            text = self.log_file.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return "(no server log)"
        return " | ".join(text.strip().splitlines()[-lines:])

    def __enter__(self) -> PgCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.destroy()


@contextlib.contextmanager
def throwaway_cluster(
    conf: Mapping[str, Any] | None = None, parent: Path | None = None
) -> Iterator[PgCluster]:
    """A started throwaway cluster, stopped and deleted on exit."""
    cluster = PgCluster.create(parent=parent, conf=conf)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()
