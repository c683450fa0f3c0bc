"""A TCP proxy on 127.0.0.1 that a test can cut: every open connection is dropped and new
ones are refused until it is restored. Used to take "the database" away from processes
without stopping the PostgreSQL server that other tests share."""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType


class NetCut:
    """Forward 127.0.0.1:<port> to `upstream`; `cut()` and `restore()` the link."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self.port = 0
        self.accepted = 0  # connections accepted while up: proof that clients came back
        self.refused_while_cut = False
        self._listen()

    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # the listener was closed: cut
            try:
                server = socket.create_connection(self.upstream, timeout=5)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._listener is not listener:  # cut meanwhile
                    client.close()
                    server.close()
                    return
                self._sockets.update((client, server))
                self.accepted += 1
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            self._drop(source, target)

    def _drop(self, *sockets: socket.socket) -> None:
        with self._lock:
            for s in sockets:
                self._sockets.discard(s)
        for s in sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    @property
    def open_connections(self) -> int:
        """Client connections being forwarded now."""
        with self._lock:
            return len(self._sockets) // 2

    def cut(self) -> None:
        """Drop every connection (as a dead server would) and refuse new ones."""
        with self._lock:
            listener, self._listener = self._listener, None
            sockets = list(self._sockets)
        if listener is not None:
            # shutdown() first: close() alone does not wake the thread blocked in accept(),
            # which would still take (and then drop) one more connection instead of refusing.
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        self._drop(*sockets)

    def is_refusing(self) -> bool:
        """True if a new connection is refused now (as it is while cut)."""
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        except OSError:
            self.refused_while_cut = True
            return True
        return False

    def restore(self) -> None:
        """Accept and forward connections again, on the same port."""
        with self._lock:
            if self._listener is not None:
                return
        self._listen()

    def close(self) -> None:
        self.cut()

    def __enter__(self) -> NetCut:
        return self

    def __exit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.close()


def via(url: str, cut: NetCut) -> str:
    """The same SQLAlchemy/libpq URL, through the proxy."""
    import sqlalchemy as sa

    parsed = sa.make_url(url).set(host="127.0.0.1", port=cut.port)
    return str(parsed.render_as_string(hide_password=False))
