"""A TCP proxy on loopback that breaks connections on purpose (docs/reliability.md cases 3 and 34).

The daemon is pointed at the proxy instead of Dovecot; the proxy forwards bytes both ways
and, when told, breaks the stream the way a NAT timeout or a server restart does:

- `cut_next(after_bytes)`: the next new connection is reset after the server has sent
  `after_bytes` bytes to the client (mid-FETCH of a large mail, if `after_bytes` is past
  the login and SELECT chatter); several calls queue up, one per connection.
- `reset_all()`: every live connection is reset at once (RST, not FIN: SO_LINGER 0).

`connected_at` lists when each connection was accepted (time.monotonic()), so a test can
see the client's reconnect backoff; `live` counts the open ones (the daemon's IMAP
connections, for the soak bench).
"""

from __future__ import annotations

import collections
import contextlib
import select
import socket
import struct
import threading
import time

CHUNK = 64 * 1024


class TcpProxy:
    def __init__(self, upstream_host: str, upstream_port: int, host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self.host = host
        self._lock = threading.Lock()
        self._cuts: collections.deque[int] = collections.deque()
        self._live: set[_Pair] = set()
        self.connected_at: list[float] = []
        self.cuts_done = 0
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    @property
    def port(self) -> int:
        if self._listener is None:
            raise RuntimeError("the proxy is not running")
        return int(self._listener.getsockname()[1])

    @property
    def live(self) -> int:
        with self._lock:
            return len(self._live)

    def start(self) -> TcpProxy:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, 0))
        listener.listen(64)
        listener.settimeout(0.2)
        self._listener = listener
        self._stopping.clear()
        self._thread = threading.Thread(target=self._accept_loop, name="tcp-proxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        self.reset_all()

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def cut_next(self, after_bytes: int) -> None:
        """Reset the next new connection once the server has sent it `after_bytes` bytes."""
        with self._lock:
            self._cuts.append(after_bytes)

    def reset_all(self) -> int:
        """Reset every live connection; returns how many there were."""
        with self._lock:
            pairs = list(self._live)
        for pair in pairs:
            pair.reset()
        return len(pairs)

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=10)
            except OSError:
                _hard_close(client)
                continue
            with self._lock:
                cut = self._cuts.popleft() if self._cuts else None
                pair = _Pair(client, server, cut, self)
                self._live.add(pair)
                self.connected_at.append(time.monotonic())
            threading.Thread(target=pair.pump, name="tcp-proxy-pair", daemon=True).start()

    def _gone(self, pair: _Pair, was_cut: bool) -> None:
        with self._lock:
            self._live.discard(pair)
            if was_cut:
                self.cuts_done += 1


class _Pair:
    """One client connection and its upstream twin, pumped by one thread."""

    def __init__(self, client: socket.socket, server: socket.socket, cut_after: int | None,
                 proxy: TcpProxy) -> None:
        self.client, self.server = client, server
        self.cut_after = cut_after
        self.proxy = proxy
        self.sent_down = 0
        self._closed = threading.Event()

    def reset(self) -> None:
        if not self._closed.is_set():
            self._closed.set()
            _hard_close(self.client)
            _hard_close(self.server)

    def pump(self) -> None:
        was_cut = False
        try:
            while not self._closed.is_set():
                try:
                    readable, _, _ = select.select([self.client, self.server], [], [], 0.5)
                except (OSError, ValueError):
                    break
                if self._pass(readable):
                    was_cut = self.cut_after is not None and self.sent_down >= self.cut_after
                    break
        finally:
            self.reset()
            self.proxy._gone(self, was_cut)

    def _pass(self, readable: list[socket.socket]) -> bool:
        """Forward what is readable; True when the pair is done (EOF, error or the cut)."""
        for sock in readable:
            try:
                data = sock.recv(CHUNK)
            except OSError:
                return True
            if not data:
                return True
            if sock is self.server:
                if self.cut_after is not None and self.sent_down + len(data) >= self.cut_after:
                    data = data[: self.cut_after - self.sent_down]
                    with contextlib.suppress(OSError):
                        self.client.sendall(data)
                    self.sent_down += len(data)
                    return True
                target = self.client
                self.sent_down += len(data)
            else:
                target = self.server
            try:
                target.sendall(data)
            except OSError:
                return True
        return False


def _hard_close(sock: socket.socket) -> None:
    """Close with RST: SO_LINGER on, timeout 0."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()
