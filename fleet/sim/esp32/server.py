"""Virtual ESP32 boards on loopback TCP ports, reachable as `socket://127.0.0.1:PORT`.

Each board gets its own listening port and background threads; like a serial port, it
takes one connection at a time (a second one is closed at once). Closing the connection
resets the board (see `fleet.sim.esp32.device`). `unplug()` makes the port vanish (the
listener closes, connecting is refused) and `plug()` brings it back on the same port.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence

from fleet.errors import DeviceError
from fleet.sim.esp32 import slip
from fleet.sim.esp32.device import VirtualEsp32, mac_plus
from fleet.sim.esp32.faults import Faults
from fleet.sim.esp32.loader import LoaderSession

log = logging.getLogger(__name__)


class _Dropped(Exception):
    """The fault injector pulled the cable."""


class _Pacer:
    """Makes each byte cost 10 bit times at `baud` (start, 8 data, stop bits)."""

    def __init__(self, baud: int | None) -> None:
        self.seconds_per_byte = 10.0 / baud if baud else 0.0
        self.clock = 0.0

    def wait(self, n: int) -> None:
        """Sleep until `n` more bytes have had time to cross the wire."""
        if not self.seconds_per_byte:
            return
        now = time.monotonic()
        self.clock = max(self.clock, now) + n * self.seconds_per_byte
        if self.clock > now:
            time.sleep(self.clock - now)


class DevicePort:
    """One board served on `host:port` (port 0: a free one is picked on first start)."""

    def __init__(self, device: VirtualEsp32, host: str = "127.0.0.1", port: int = 0) -> None:
        self.device = device
        self.host = host
        self.port = port
        self.sessions = 0
        self.drops = 0
        self._listener: socket.socket | None = None
        self._conn: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._idle = threading.Event()
        self._idle.set()

    @property
    def url(self) -> str:
        """The pyserial URL esptool opens."""
        return f"socket://{self.host}:{self.port}"

    @property
    def plugged(self) -> bool:
        """True while the port accepts connections."""
        return self._listener is not None

    def start(self) -> DevicePort:
        """Listen and serve in background threads; returns self."""
        self.plug()
        return self

    def plug(self) -> None:
        """(Re)open the listening port; the board answers again."""
        with self._lock:
            if self._listener is not None:
                return
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                listener.bind((self.host, self.port))
            except OSError as exc:
                listener.close()
                raise DeviceError(f"cannot listen: {exc}", port=f"{self.host}:{self.port}") from exc
            listener.listen(4)
            listener.settimeout(0.1)
            self.port = listener.getsockname()[1]
            self._listener = listener
            self._stopping.clear()
            self._accept_thread = threading.Thread(
                target=self._accept_loop,
                args=(listener,),
                name=f"esp32sim-{self.port}",
                daemon=True,
            )
            self._accept_thread.start()

    def unplug(self) -> None:
        """Pull the cable: drop any session and stop listening until `plug()`."""
        with self._lock:
            listener, self._listener = self._listener, None
            conn = self._conn
            thread = self._accept_thread
        if listener is not None:
            # shutdown() stops listening at once; a bare close() would leave the socket
            # accepting until the accept thread's poll returns (it holds a reference).
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout=5)
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        """Unplug for good and wait for the threads to end."""
        self._stopping.set()
        self.unplug()
        thread = self._accept_thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        self._idle.wait(timeout=5)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no host is connected (the last session has ended and reset)."""
        return self._idle.wait(timeout)

    # --- threads ---------------------------------------------------------------------

    def _accept_loop(self, listener: socket.socket) -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                if self._listener is not listener:
                    return
                continue
            except OSError:
                return
            with self._lock:
                busy = self._conn is not None or self._listener is not listener
                if not busy:
                    self._conn = conn
                    self._idle.clear()
            if busy:  # a serial port has one user at a time
                conn.close()
                continue
            threading.Thread(
                target=self._serve, args=(conn,), name=f"esp32sim-{self.port}-conn", daemon=True
            ).start()

    def _serve(self, conn: socket.socket) -> None:
        device = self.device
        faults = device.faults
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        decoder = slip.Decoder()
        pending: deque[bytes] = deque()
        rx = _Pacer(device.baud_pace)
        tx = _Pacer(device.baud_pace)
        self.sessions += 1
        dropped = False
        spoke = False  # a connection that never sends is a presence probe: no reset

        def recv() -> bytes | None:
            nonlocal spoke
            while not pending:
                try:
                    data = conn.recv(65536)
                except OSError:
                    return None
                if not data:
                    return None
                spoke = True
                rx.wait(len(data))
                if faults.count_received(len(data)):
                    raise _Dropped
                pending.extend(decoder.feed(data))
            return pending.popleft()

        def send(packet: bytes) -> None:
            frame = slip.encode(packet)
            tx.wait(len(frame))
            conn.sendall(frame)

        session = LoaderSession(device, send, recv)
        try:
            while (packet := recv()) is not None:
                if faults.response_delay:
                    time.sleep(faults.response_delay)
                session.handle(packet)
        except _Dropped:
            dropped = True
        except OSError as exc:
            log.debug("virtual %s: connection ended: %s", device, exc)
        finally:
            with contextlib.suppress(OSError):
                conn.close()
            with self._lock:
                self._conn = None
            try:
                if spoke:
                    device.reset()
            finally:
                self._idle.set()
        if dropped:
            self._pull_cable(faults)

    def _pull_cable(self, faults: Faults) -> None:
        self.drops += 1
        self.unplug()
        if faults.replug_after is not None and not self._stopping.is_set():
            timer = threading.Timer(faults.replug_after, self._replug)
            timer.daemon = True
            timer.start()

    def _replug(self) -> None:
        if not self._stopping.is_set():
            with contextlib.suppress(DeviceError):
                self.plug()


class DeviceServer:
    """Several boards, each on its own port; a context manager that stops them all."""

    def __init__(self, ports: Sequence[DevicePort]) -> None:
        self.ports = list(ports)

    @property
    def urls(self) -> list[str]:
        """`socket://` URLs, one per board, in order."""
        return [p.url for p in self.ports]

    @property
    def devices(self) -> list[VirtualEsp32]:
        """The boards, in order."""
        return [p.device for p in self.ports]

    def stop(self) -> None:
        """Stop every board."""
        for port in self.ports:
            port.stop()

    def __enter__(self) -> DeviceServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def make_devices(
    chip: str, first_mac: str | bytes, count: int = 1, **kwargs: object
) -> list[VirtualEsp32]:
    """`count` boards of one chip with consecutive MACs starting at `first_mac`."""
    return [VirtualEsp32(chip, mac_plus(first_mac, i), **kwargs) for i in range(count)]  # type: ignore[arg-type]


@contextlib.contextmanager
def serve_devices(
    devices: Sequence[VirtualEsp32], host: str = "127.0.0.1", first_port: int = 0
) -> Iterator[DeviceServer]:
    """Serve `devices` on loopback ports (free ones, or consecutive from `first_port`).

    Yields a `DeviceServer`; `.urls` are the `socket://` URLs in the order of `devices`.
    Everything is stopped when the block ends.
    """
    ports: list[DevicePort] = []
    try:
        for i, device in enumerate(devices):
            port = first_port + i if first_port else 0
            ports.append(DevicePort(device, host, port).start())
        with DeviceServer(ports) as server:
            yield server
    finally:
        for p in ports:
            p.stop()
