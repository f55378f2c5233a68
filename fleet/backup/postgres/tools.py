"""PostgreSQL client and server programs: where they are, which version, who runs them.

`pg_dump` must be at least as new as the server it dumps (GitLab 2017 lost its dumps to a
client/server mismatch), so tools are looked up per major version: the Debian layout
`/usr/lib/postgresql/<major>/bin` first, then `PATH`. `initdb` and `postgres` refuse to run
as root; `as_cluster_user` prefixes a command with `runuser -u postgres --` when we are root.
"""

from __future__ import annotations

import functools
import os
import pwd
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from fleet.errors import MissingPrerequisite

DEBIAN_ROOT = Path("/usr/lib/postgresql")
CLUSTER_USER = "postgres"


def _debian_bin_dirs() -> list[Path]:
    """Debian version folders, newest major first."""
    if not DEBIAN_ROOT.is_dir():
        return []
    found = [p / "bin" for p in DEBIAN_ROOT.iterdir() if p.name.isdigit() and (p / "bin").is_dir()]
    return sorted(found, key=lambda p: int(p.parent.name), reverse=True)


def find_tool(name: str, major: int | None = None) -> Path:
    """Absolute path of PostgreSQL program `name`, for server `major` when given.

    With `major`, a tool from that version's folder or newer is chosen (a newer pg_dump reads
    an older server). Raises MissingPrerequisite naming the program when none is found.
    """
    for bin_dir in _debian_bin_dirs():
        if major is not None and int(bin_dir.parent.name) < major:
            continue
        candidate = bin_dir / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            if major is not None and int(bin_dir.parent.name) != major:
                exact = DEBIAN_ROOT / str(major) / "bin" / name
                if exact.is_file():
                    return exact
            return candidate
    on_path = shutil.which(name)
    if on_path:
        if major is not None and tool_major(Path(on_path)) < major:
            raise MissingPrerequisite(
                f"{name} at {on_path} is older than PostgreSQL {major}; install the "
                f"postgresql-client-{major} package",
                tool=name,
            )
        return Path(on_path)
    wanted = f" {major}" if major is not None else ""
    raise MissingPrerequisite(
        f"PostgreSQL{wanted} program {name} not found (looked in {DEBIAN_ROOT}/*/bin and PATH)",
        tool=name,
    )


def tool_version(path: Path) -> str:
    """The version a program prints, e.g. '15.8' for `pg_dump (PostgreSQL) 15.8 (Debian...)`."""
    out = subprocess.run(
        [str(path), "--version"], capture_output=True, text=True, check=False
    ).stdout
    match = re.search(r"\)\s+(\d+(?:\.\d+)?)", out)
    return match.group(1) if match else out.strip()


def tool_major(path: Path) -> int:
    """Major version of a PostgreSQL program (15 for 15.8)."""
    version = tool_version(path)
    try:
        return int(version.split(".")[0])
    except ValueError:
        return 0


@dataclass(frozen=True)
class ClusterUser:
    """The system account a local cluster runs as, and whether we must switch to it."""

    name: str
    uid: int
    gid: int
    switch: bool

    def wrap(self, argv: list[str]) -> list[str]:
        """`argv` run as this user (prefixed with `runuser` when we are root)."""
        if self.switch:
            return ["runuser", "-u", self.name, "--", *argv]
        return argv

    def chown(self, path: Path) -> None:
        """Give `path` to this user (no-op when we already are that user)."""
        if self.switch:
            os.chown(path, self.uid, self.gid)

    def chown_tree(self, root: Path) -> None:
        """Give `root` and everything below it to this user."""
        if not self.switch:
            return
        self.chown(root)
        for dirpath, dirnames, filenames in os.walk(root):
            for name in dirnames + filenames:
                os.lchown(os.path.join(dirpath, name), self.uid, self.gid)


def cluster_user() -> ClusterUser:
    """The user that runs `initdb`/`postgres`: ourselves, or `postgres` when we are root.

    Raises MissingPrerequisite when running as root and no `postgres` account exists.
    """
    if os.geteuid() != 0:
        me = pwd.getpwuid(os.geteuid())
        return ClusterUser(me.pw_name, me.pw_uid, me.pw_gid, switch=False)
    try:
        entry = pwd.getpwnam(CLUSTER_USER)
    except KeyError as exc:
        raise MissingPrerequisite(
            "PostgreSQL refuses to run as root and there is no 'postgres' system user",
            tool="postgres",
        ) from exc
    if shutil.which("runuser") is None:
        raise MissingPrerequisite("runuser not found (needed to run PostgreSQL as root)")
    return ClusterUser(entry.pw_name, entry.pw_uid, entry.pw_gid, switch=True)


@functools.lru_cache(maxsize=32)
def _runs_as_cached(user: ClusterUser, argv: tuple[str, ...]) -> bool:
    done = subprocess.run(user.wrap(list(argv)), capture_output=True, check=False)
    return done.returncode == 0


def _runs_as(user: ClusterUser, argv: list[str]) -> bool:
    return _runs_as_cached(user, tuple(argv))


def fleet_command(home: Path, user: ClusterUser | None = None) -> str:
    """A shell command prefix that runs this `fleet` as the cluster user, for `archive_command`.

    Normally `<venv>/bin/fleet --home HOME`. When that interpreter is out of the cluster
    user's reach (e.g. a pyenv under /root, mode 0700) but a system Python of the same
    minor version is not, that Python runs the same installed package (isolated mode, this
    environment's site-packages). Raises MissingPrerequisite when neither can run.
    """
    import shlex
    import sys
    import sysconfig

    who = user or cluster_user()
    exe = Path(sys.executable)
    script = exe.parent / "fleet"
    if not who.switch or _runs_as(who, [str(exe), "-c", "pass"]):
        return f"{shlex.quote(str(script))} --home {shlex.quote(str(home))}"
    minor = f"python{sys.version_info.major}.{sys.version_info.minor}"
    site_dir = sysconfig.get_paths()["purelib"]
    boot = (
        f"import site,sys; site.addsitedir({site_dir!r}); sys.argv[0]='fleet'; "
        "from fleet.cli.main import main; main()"
    )
    for candidate in (Path("/usr/bin") / minor, Path("/usr/local/bin") / minor):
        if candidate.is_file() and _runs_as(
            who, [str(candidate), "-I", "-S", "-c", boot, "--help"]
        ):
            return (
                f"{shlex.quote(str(candidate))} -I -S -c {shlex.quote(boot)} "
                f"--home {shlex.quote(str(home))}"
            )
    raise MissingPrerequisite(
        f"user {who.name} cannot run {exe} (a folder on its path is closed to it) and no "
        f"system {minor} is available; install fleet where {who.name} can execute it",
        tool="fleet",
    )
