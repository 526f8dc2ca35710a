"""The gevent gunicorn worker with per-connection deadlines and a per-client connection cap.

gunicorn bounds only how long a connection may sit before a request's headers are complete
(``keepalive``); a client that trickles its *body* or never reads its *response* would hold a
connection (and a slot of ``worker_connections``) for ever. This worker adds, per connection:

- a whole-request read deadline (``request_timeout`` s): from the first byte of a request until
  its body is read; past it the socket read raises :class:`RequestTimeout` (the app answers 408
  and the connection closes);
- a response write deadline (``write_timeout`` s): from the first byte of a response until its
  last is taken by the client's socket; past it the connection is closed;
- a cap of ``max_client_connections`` connections per client address and worker (0: none):
  connections over it are closed at once, so one address cannot take every slot.

gunicorn.conf.py owns the values (from the environment: ``GUNICORN_REQUEST_TIMEOUT``,
``GUNICORN_WRITE_TIMEOUT``, ``GUNICORN_MAX_CLIENT_CONNECTIONS``) and sets them with
:func:`configure` in the master, before the workers fork. Both deadlines end a connection with an
``EPIPE``-numbered error, which gunicorn closes quietly (debug log), as for a client gone away.
"""

from __future__ import annotations

import errno
import socket
import time
from collections import Counter

from gunicorn.workers.ggevent import GeventWorker


class RequestTimeout(TimeoutError):
    """The request was not read within the whole-request read deadline (the app answers 408)."""

    def __init__(self, seconds: float):
        super().__init__(errno.EPIPE, f"request not read within {seconds:g} s")


class ResponseTimeout(TimeoutError):
    """The response was not taken within the write deadline (the connection closes)."""

    def __init__(self, seconds: float):
        super().__init__(errno.EPIPE, f"response not taken within {seconds:g} s")


class _DeadlineSocket:
    """A connected socket whose reads share one deadline per request and whose writes share
    one deadline per response. Everything else is the socket's own."""

    def __init__(self, sock, read_timeout: float, write_timeout: float):
        self._sock = sock
        self._read_timeout, self._write_timeout = read_timeout, write_timeout
        self._read_deadline: float | None = None
        self._write_deadline: float | None = None

    def __getattr__(self, name):
        return getattr(self._sock, name)

    def request_started(self) -> None:
        """Its headers are parsed: the read deadline runs (from its first byte, if read here)."""
        if self._read_deadline is None:
            self._read_deadline = time.monotonic() + self._read_timeout

    def request_done(self) -> None:
        self._read_deadline = self._write_deadline = None

    def _recv(self, fn, *args):
        if self._read_deadline is None:
            # Waiting for a request to start: gunicorn's keepalive timeout bounds that wait.
            self._sock.settimeout(None)
            data = fn(*args)
            if data:
                self._read_deadline = time.monotonic() + self._read_timeout
            return data
        left = self._read_deadline - time.monotonic()
        if left <= 0:
            raise RequestTimeout(self._read_timeout)
        self._sock.settimeout(left)
        try:
            return fn(*args)
        except socket.timeout:
            raise RequestTimeout(self._read_timeout) from None

    def recv(self, *args):
        return self._recv(self._sock.recv, *args)

    def recv_into(self, *args):
        return self._recv(self._sock.recv_into, *args)

    def settimeout(self, value):  # the deadlines own the socket's timeout
        pass

    def _send(self, fn, *args):
        if self._write_deadline is None:
            self._write_deadline = time.monotonic() + self._write_timeout
        left = self._write_deadline - time.monotonic()
        if left <= 0:
            raise ResponseTimeout(self._write_timeout)
        self._sock.settimeout(left)  # gevent: one timeout for the whole sendall
        try:
            return fn(*args)
        except socket.timeout:
            raise ResponseTimeout(self._write_timeout) from None

    def sendall(self, *args):
        return self._send(self._sock.sendall, *args)

    def send(self, *args):
        return self._send(self._sock.send, *args)


class DeadlineGeventWorker(GeventWorker):
    request_timeout = 10.0
    write_timeout = 10.0
    max_client_connections = 0

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients: Counter[str] = Counter()

    def handle(self, listener, client, addr):
        key = addr[0] if isinstance(addr, tuple) else str(addr)
        self._clients[key] += 1
        try:
            cap = self.max_client_connections
            if cap and self._clients[key] > cap:
                self.log.debug("closed a connection from %s: over %d per client", key, cap)
                client.close()
                return
            client.setblocking(1)
            super().handle(listener, _DeadlineSocket(client, self.request_timeout,
                                                     self.write_timeout), addr)
        finally:
            self._clients[key] -= 1
            if not self._clients[key]:
                del self._clients[key]

    def handle_request(self, listener_name, req, sock, addr):
        sock.request_started()  # a pipelined request read from the buffer starts its clock here
        try:
            return super().handle_request(listener_name, req, sock, addr)
        finally:
            sock.request_done()


def configure(request_timeout: float, write_timeout: float, max_client_connections: int) -> None:
    """Set the deadlines and the cap (gunicorn.conf.py, in the master before forking)."""
    if request_timeout <= 0 or write_timeout <= 0 or max_client_connections < 0:
        raise ValueError("GUNICORN_REQUEST_TIMEOUT and GUNICORN_WRITE_TIMEOUT must be positive, "
                         "GUNICORN_MAX_CLIENT_CONNECTIONS 0 (no cap) or more")
    DeadlineGeventWorker.request_timeout = request_timeout
    DeadlineGeventWorker.write_timeout = write_timeout
    DeadlineGeventWorker.max_client_connections = max_client_connections
