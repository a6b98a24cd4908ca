"""A TCP proxy on 127.0.0.1 that a test can cut and restore: a database outage without mocks.

Put between forge and its database server, `cut()` closes the listener and every connection
through it (forge sees its connections reset and new ones refused, as when the server or the
network goes away), and `restore()` listens on the same port again. Threads only, and bounded:
the proxy stops itself `lifetime` seconds after it started, whatever the test does.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time


class TcpProxy:
    def __init__(self, target_host: str, target_port: int, lifetime: float = 300.0):
        self.target = (target_host, target_port)
        self.deadline = time.monotonic() + lifetime
        self.port = 0
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._stopped = threading.Event()

    # --- what a test calls --------------------------------------------------------------

    def start(self) -> TcpProxy:
        self._listen()
        watchdog = threading.Thread(target=self._expire, daemon=True, name="tcp-proxy-expiry")
        watchdog.start()
        self._threads.append(watchdog)
        return self

    def cut(self) -> None:
        """Stop listening and close every connection through the proxy, both ends."""
        with self._lock:
            listener, self._listener = self._listener, None
            sockets, self._sockets = self._sockets, set()
        if listener is not None:
            listener.close()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def restore(self) -> None:
        """Listen again on the same port."""
        if self._listener is None and not self._stopped.is_set():
            self._listen()

    def stop(self) -> None:
        self._stopped.set()
        self.cut()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=5)

    # --- inside ---------------------------------------------------------------------------

    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.settimeout(0.2)  # so the accept loop notices a cut or the deadline
        self.port = listener.getsockname()[1]
        with self._lock:
            self._listener = listener
        thread = threading.Thread(
            target=self._accept, args=(listener,), daemon=True, name="tcp-proxy-accept"
        )
        thread.start()
        self._threads.append(thread)

    def _expire(self) -> None:
        while not self._stopped.wait(0.5):
            if time.monotonic() > self.deadline:
                self._stopped.set()
                self.cut()

    def _accept(self, listener: socket.socket) -> None:
        while not self._stopped.is_set() and self._listener is listener:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # closed by cut()
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            client.settimeout(None)
            with self._lock:
                if self._listener is not listener:  # cut while connecting
                    client.close()
                    upstream.close()
                    return
                self._sockets.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(
                    target=self._pump, args=(source, sink), daemon=True, name="tcp-proxy-pump"
                ).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass  # cut, or the other side went away
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)
