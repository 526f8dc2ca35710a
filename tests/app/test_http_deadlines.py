"""Per-connection deadlines, the per-client cap, pipelining and malformed chunked bodies, on the
real server (`faq-engine serve`, gevent workers from faq_engine.worker). Issue 18 items 3 and 4."""

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

from faqtest.common import probe

QUESTION = json.dumps({"question": "How do I roll back?"}).encode()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def serve(trained_model, tmp_path):
    """Start the server with extra environment; yields (port, log path)."""
    procs = []

    def start(**env):
        port = _free_port()
        log_path = tmp_path / f"server-{port}.log"
        log = open(log_path, "w")
        proc = subprocess.Popen(
            [sys.executable, "-m", "faq_engine.cli", "serve", "--model-dir", str(trained_model),
             "--port", str(port), "--workers", "2"],
            stdout=log, stderr=subprocess.STDOUT,
            env=dict(os.environ, GUNICORN_GRACEFUL_TIMEOUT="5", **{k: str(v) for k, v in env.items()}))
        procs.append((proc, log))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert proc.poll() is None, log_path.read_text()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1):
                    return port, log_path
            except OSError:
                time.sleep(0.2)
        raise AssertionError("server did not become ready")

    yield start
    for proc, log in procs:
        proc.kill()
        proc.wait()
        log.close()


def read_responses(sock, timeout=10.0):
    """Every response on the connection until the server closes it (or `timeout`):
    [(status, headers, body)], and whether the server closed it."""
    sock.settimeout(timeout)
    buf, closed = b"", False
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            data = sock.recv(65536)
        except (socket.timeout, ConnectionResetError):
            closed = not isinstance(sys.exc_info()[1], socket.timeout)
            break
        if not data:
            closed = True
            break
        buf += data
    out = []
    while b"\r\n\r\n" in buf:
        head, _, rest = buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
        n = int(headers.get("content-length", "0"))
        out.append((int(lines[0].split()[1]), headers, rest[:n]))
        buf = rest[n:]
    return out, closed


def post_head(length=None, chunked=False, path="/v1/answer"):
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    head += "Transfer-Encoding: chunked\r\n" if chunked else f"Content-Length: {length}\r\n"
    return (head + "\r\n").encode()


@pytest.mark.slow
def test_a_trickled_body_gets_408_within_the_request_deadline(serve):
    port, log = serve(GUNICORN_REQUEST_TIMEOUT=2)
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(post_head(len(QUESTION)))
    started = time.monotonic()
    for b in QUESTION[:8]:  # one byte every 0.5 s: 4 s for 8 bytes, past the 2 s deadline
        try:
            s.sendall(bytes([b]))
        except OSError:
            break
        time.sleep(0.5)
    responses, closed = read_responses(s, 10)
    took = time.monotonic() - started
    assert [r[0] for r in responses] == [408] and closed, responses
    assert json.loads(responses[0][2])["error"]["code"] == "request_timeout"
    assert took < 6, took
    assert "Traceback" not in log.read_text()


@pytest.mark.slow
def test_a_client_that_never_reads_is_closed_after_the_write_deadline(serve):
    port, log = serve(GUNICORN_WRITE_TIMEOUT=2)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    n = 2000
    req = b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n"
    sent = threading.Thread(target=lambda: _send_quietly(s, req * n), daemon=True)
    sent.start()
    time.sleep(6)  # never reading: the server's writes stall on full buffers
    responses, closed = read_responses(s, 20)
    # Before the deadline the server stayed blocked in its write for as long as the client
    # wanted, then answered all of them once it read.
    assert closed and len(responses) < n, (closed, len(responses))
    assert "Traceback" not in log.read_text()


def _send_quietly(sock, data):
    try:
        sock.sendall(data)
    except OSError:
        pass


@pytest.mark.slow
def test_pipelined_requests_are_answered_in_order(serve):
    port, _ = serve(GUNICORN_REQUEST_TIMEOUT=2)
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
              + post_head(len(QUESTION)) + QUESTION
              + b"GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n"
              + b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n"
              + post_head(len(QUESTION)) + QUESTION[:5])  # the last body comes later
    time.sleep(1)
    s.sendall(QUESTION[5:] + b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    responses, closed = read_responses(s, 10)
    assert [r[0] for r in responses] == [200, 200, 404, 200, 200, 200], responses
    assert json.loads(responses[0][2]) == {"status": "ok"}
    assert json.loads(responses[1][2])["answers"] and json.loads(responses[4][2])["answers"]
    assert json.loads(responses[3][2])["status"] == "ready"


@pytest.mark.parametrize("body", [
    b"zz\r\n{}\r\n0\r\n\r\n",                # a chunk size that is not hex
    b"2\r\n{}XX0\r\n\r\n",                   # chunk data not followed by CRLF
    b"2;\x01bad\r\n{}\r\n0\r\n\r\n",         # a chunk extension with a control character
    b"2\r\n{}\r\n0\r\nbad trailer\r\n\r\n",  # a trailer that is not a header
], ids=["size", "terminator", "extension", "trailer"])
def test_a_malformed_chunked_body_is_400_json(serve, body):
    port, log = serve()
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(post_head(chunked=True) + body)
    s.shutdown(socket.SHUT_WR)
    responses, closed = read_responses(s, 10)
    assert [r[0] for r in responses] == [400] and closed, responses
    err = json.loads(responses[0][2])["error"]
    assert err["code"] == "malformed_body", err
    assert "Traceback" not in log.read_text() and '"status": 500' not in log.read_text()


@pytest.mark.slow
def test_one_address_cannot_take_every_connection(serve):
    """Connections from one address past the cap are closed at once; other addresses are
    served. (127.0.0.2 is the attacker, 127.0.0.1 the normal clients.)"""
    port, _ = serve(GUNICORN_MAX_CLIENT_CONNECTIONS=5)
    socks = []
    for _ in range(40):
        s = socket.socket()
        s.bind(("127.0.0.2", 0))
        s.connect(("127.0.0.1", port))
        s.sendall(b"GET /healthz HTTP/1.1\r\n")  # headers that never end
        socks.append(s)
    time.sleep(1)
    closed = 0
    for s in socks:
        s.settimeout(0.05)
        try:
            closed += s.recv(1) == b""
        except socket.timeout:
            pass
        except ConnectionResetError:
            closed += 1
    assert closed >= 40 - 2 * 5, closed  # 2 workers, 5 each at most
    assert probe(port, 2)["availability"] == 1.0
    for s in socks:
        s.close()
