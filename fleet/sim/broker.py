"""A real Mosquitto broker on a free loopback port, for tests, benchmarks and the demo.

`start_broker()` writes a config file into its own work directory, starts `mosquitto -c`
on 127.0.0.1, waits until the broker logs that it runs, and returns a `Broker`. The broker
is stopped by its PID (`stop()`), killed hard (`kill()`, SIGKILL: no persistence save, no
last-will cleanup) and started again on the SAME port with the same config and persistence
directory (`restart()`), which is how a broker crash or restore is simulated.

Mosquitto started as root drops to the `mosquitto` user unless the config says `user root`;
we write `user root` when running as root so that the work directory stays writable.
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
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from fleet.errors import BrokerError, MissingPrerequisite

INSTALL_HINT = "apt-get install -y mosquitto"
_SEARCH_PATHS = ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto", "/opt/homebrew/sbin/mosquitto")
_READY_MARK = " running"  # "mosquitto version 2.0.11 running"


def find_mosquitto() -> Path:
    """Path of the `mosquitto` binary; raises MissingPrerequisite (with the apt-get line)."""
    found = shutil.which("mosquitto")
    if found:
        return Path(found)
    for candidate in _SEARCH_PATHS:
        if os.access(candidate, os.X_OK):
            return Path(candidate)
    raise MissingPrerequisite(f"the mosquitto broker is not installed; install it: {INSTALL_HINT}")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free on `host` a moment ago (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class Broker:
    """One Mosquitto process and the files it owns (config, log, persistence)."""

    port: int
    workdir: Path
    persistence: bool
    host: str = "127.0.0.1"
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    own_workdir: bool = False
    starts: int = 0

    @property
    def url(self) -> str:
        """`mqtt://host:port`, the form `fleet serve --broker` and `fleet sim nodes` take."""
        return f"mqtt://{self.host}:{self.port}"

    @property
    def config_file(self) -> Path:
        return self.workdir / "mosquitto.conf"

    @property
    def log_file(self) -> Path:
        return self.workdir / "mosquitto.log"

    @property
    def persistence_dir(self) -> Path:
        return self.workdir / "data"

    @property
    def pid(self) -> int | None:
        """PID of the running broker, or None when it is not running."""
        if self.process is None or self.process.poll() is not None:
            return None
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.pid is not None

    def start(self, timeout: float = 10.0) -> None:
        """Start Mosquitto with the written config; wait until it listens.

        Raises BrokerError (with the broker's last log lines) when it exits or does not
        come up within `timeout` seconds; MissingPrerequisite when it is not installed.
        """
        if self.running:
            raise BrokerError(f"already running on port {self.port} (pid {self.pid})")
        binary = find_mosquitto()
        log_offset = self.log_file.stat().st_size if self.log_file.exists() else 0
        out = (self.workdir / "mosquitto.stdout").open("ab")
        try:
            self.process = subprocess.Popen(
                [str(binary), "-c", str(self.config_file)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C in the caller's terminal is not the broker's
            )
        finally:
            out.close()
        self.starts += 1
        self._wait_ready(log_offset, timeout)

    def _wait_ready(self, log_offset: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise BrokerError(
                    f"mosquitto on port {self.port} exited with code {self.process.returncode}: "
                    f"{self._log_tail(log_offset)}",
                    port=self.port,
                )
            if _READY_MARK in self._log_since(log_offset) and _port_open(self.host, self.port):
                return
            time.sleep(0.02)
        self.kill()
        raise BrokerError(
            f"mosquitto did not listen on port {self.port} within {timeout:g} s: "
            f"{self._log_tail(log_offset)}",
            port=self.port,
        )

    def _log_since(self, offset: int) -> str:
        try:
            with self.log_file.open("rb") as fh:
                fh.seek(offset)
                return fh.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def _log_tail(self, offset: int) -> str:
        text = self._log_since(offset)
        stdout = self.workdir / "mosquitto.stdout"
        if stdout.exists():
            text += stdout.read_text("utf-8", "replace")
        lines = [line for line in text.splitlines() if line.strip()]
        return " | ".join(lines[-5:]) or "(no log output)"

    def stop(self, timeout: float = 10.0) -> None:
        """Stop cleanly (SIGTERM: Mosquitto saves persistence); SIGKILL after `timeout`."""
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        os.kill(proc.pid, signal.SIGCONT)  # a frozen broker cannot act on SIGTERM
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()

    def kill(self) -> None:
        """Kill -9: no persistence save; client sessions drop without DISCONNECT."""
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()

    def freeze(self) -> None:
        """SIGSTOP: the broker keeps its sockets but answers nothing (a network outage)."""
        if self.pid is not None:
            os.kill(self.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT after `freeze()`: the broker carries on where it stopped."""
        if self.pid is not None:
            os.kill(self.pid, signal.SIGCONT)

    def save(self) -> None:
        """Ask Mosquitto to write its persistence file now (SIGUSR1); no-op without it."""
        if self.persistence and self.pid is not None:
            os.kill(self.pid, signal.SIGUSR1)

    def restart(self, *, hard: bool = True, downtime: float = 0.0, timeout: float = 10.0) -> None:
        """Kill (hard) or stop the broker, wait `downtime` s, start it on the same port.

        The persistence directory is kept, so with persistence on the broker comes back
        with what it last saved (after a hard kill: possibly an older state).
        """
        if hard:
            self.kill()
        else:
            self.stop()
        if downtime > 0:
            time.sleep(downtime)
        self.start(timeout=timeout)

    def close(self) -> None:
        """Stop the broker and remove the work directory if `start_broker` created it."""
        self.stop()
        if self.own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Broker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _port_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def render_config(
    broker: Broker,
    *,
    autosave_interval: int = 1800,
    max_queued_messages: int = 1000,
    sys_interval: int = 10,
    max_connections: int = -1,
    extra: str = "",
) -> str:
    """The mosquitto.conf text for `broker` (one anonymous loopback listener)."""
    lines = [
        "# written by fleet.sim.broker",
        f"listener {broker.port} {broker.host}",
        "allow_anonymous true",
        f"max_queued_messages {max_queued_messages}",
        f"max_connections {max_connections}",
        f"sys_interval {sys_interval}",
        f"log_dest file {broker.log_file}",
        "log_type error",
        "log_type warning",
        "log_type notice",
        "log_type information",
        "connection_messages true",
        "log_timestamp true",
    ]
    if broker.persistence:
        lines += [
            "persistence true",
            f"persistence_location {broker.persistence_dir}/",
            f"autosave_interval {autosave_interval}",
        ]
    else:
        lines.append("persistence false")
    if os.geteuid() == 0:
        lines.append("user root")
    if extra:
        lines.append(extra.rstrip("\n"))
    return "\n".join(lines) + "\n"


def start_broker(
    workdir: Path | None = None,
    *,
    port: int | None = None,
    persistence: bool = False,
    autosave_interval: int = 1800,
    max_queued_messages: int = 1000,
    sys_interval: int = 10,
    extra_config: str = "",
    timeout: float = 10.0,
) -> Broker:
    """Start Mosquitto on 127.0.0.1 (`port`, or a free one) and return the running `Broker`.

    `workdir` holds mosquitto.conf, mosquitto.log and (with `persistence`) data/; when None a
    temp directory is created and removed by `Broker.close()`. Raises MissingPrerequisite
    when mosquitto is not installed, BrokerError when it does not come up.
    """
    find_mosquitto()
    own = workdir is None
    root = Path(tempfile.mkdtemp(prefix="fleet-mosquitto-")) if workdir is None else workdir
    root.mkdir(parents=True, exist_ok=True)
    attempts = 1 if port is not None else 3  # a kernel-chosen port can be taken meanwhile
    for attempt in range(attempts):
        chosen = port if port is not None else free_port()
        try:
            return _start_at(
                root,
                own,
                chosen,
                persistence,
                autosave_interval,
                max_queued_messages,
                sys_interval,
                extra_config,
                timeout,
            )
        except BrokerError as exc:
            if attempt + 1 >= attempts or "in use" not in exc.message:
                if own:
                    shutil.rmtree(root, ignore_errors=True)
                raise
    raise AssertionError("unreachable")


def _start_at(
    root: Path,
    own: bool,
    chosen: int,
    persistence: bool,
    autosave_interval: int,
    max_queued_messages: int,
    sys_interval: int,
    extra_config: str,
    timeout: float,
) -> Broker:
    broker = Broker(port=chosen, workdir=root, persistence=persistence, own_workdir=own)
    if persistence:
        broker.persistence_dir.mkdir(parents=True, exist_ok=True)
    broker.config_file.write_text(
        render_config(
            broker,
            autosave_interval=autosave_interval,
            max_queued_messages=max_queued_messages,
            sys_interval=sys_interval,
            extra=extra_config,
        ),
        encoding="utf-8",
    )
    broker.start(timeout=timeout)
    return broker


@contextlib.contextmanager
def running_broker(
    workdir: Path | None = None,
    *,
    port: int | None = None,
    persistence: bool = False,
    max_queued_messages: int = 1000,
    sys_interval: int = 10,
) -> Iterator[Broker]:
    """`start_broker(...)` as a context manager: the broker is stopped (by PID) on exit."""
    broker = start_broker(
        workdir,
        port=port,
        persistence=persistence,
        max_queued_messages=max_queued_messages,
        sys_interval=sys_interval,
    )
    try:
        yield broker
    finally:
        broker.close()
