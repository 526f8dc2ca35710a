"""gunicorn settings, all from the environment (the container and `faq-engine serve` share it).

HOST (127.0.0.1; the container image and the chart set 0.0.0.0), PORT (8080), WEB_CONCURRENCY (2 workers), GUNICORN_WORKER_CLASS (gevent), GUNICORN_WORKER_CONNECTIONS
(1000 connections a gevent worker holds at once), GUNICORN_THREADS (2, gthread only),
GUNICORN_TIMEOUT (30 s: a worker that does not check in with the master for that long, e.g. stuck
in one request, is killed and replaced; it is not a limit on a slow client), GUNICORN_GRACEFUL_TIMEOUT
(20 s), GUNICORN_KEEPALIVE (5 s: also how long a request's headers may take), LOG_LEVEL (info),
NUMERIC_THREADS (BLAS/OpenMP threads per worker; default: the worker's share of the CPUs, see
faq_engine/threads.py).
With the gevent worker (``faq_engine.worker``): GUNICORN_REQUEST_TIMEOUT (10 s from a request's
first byte until its body is read, else 408 and close), GUNICORN_WRITE_TIMEOUT (10 s for the
client to take a response, else close), GUNICORN_MAX_CLIENT_CONNECTIONS (200 connections per
client address and worker, 0 for no cap; over it a connection is closed at once).

The gevent worker serves every connection from a greenlet, so a client that trickles its request
a byte at a time holds a few kilobytes, not a worker thread (``bench/attacks.py`` measures it;
the gthread worker is kept as an option for comparison).
The app (and so the model) is loaded once in the master before the workers fork
(``preload_app``): its memory-mapped arrays are then shared by every worker.
"""

import os

worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gevent")
if worker_class == "gevent":
    # Patch before anything (the preloaded app, logging's locks) is imported, as gevent requires:
    # the workers inherit a consistently patched process.
    from gevent import monkey

    monkey.patch_all()

import gc  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402

from faq_engine.logs import GUNICORN_LOGCONFIG  # noqa: E402
from faq_engine.threads import apply as _cap_numeric_threads  # noqa: E402

if worker_class == "gevent":
    from faq_engine import worker as _deadlines  # noqa: E402

    _deadlines.configure(float(os.environ.get("GUNICORN_REQUEST_TIMEOUT", "10")),
                         float(os.environ.get("GUNICORN_WRITE_TIMEOUT", "10")),
                         int(os.environ.get("GUNICORN_MAX_CLIENT_CONNECTIONS", "200")))
    worker_class = "faq_engine.worker.DeadlineGeventWorker"

wsgi_app = "faq_engine.wsgi:app"
_host = os.environ.get("HOST") or "127.0.0.1"
bind = [f"[{_host}]:{int(os.environ.get('PORT', '8080'))}" if ":" in _host
        else f"{_host}:{int(os.environ.get('PORT', '8080'))}"]
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Each worker's share of the CPUs for numpy's BLAS, set before the preloaded app imports numpy
# (faq_engine/threads.py; NUMERIC_THREADS overrides).
_numeric_threads = _cap_numeric_threads(workers)
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", "1000"))
threads = int(os.environ.get("GUNICORN_THREADS", "2"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "20"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
preload_app = True
loglevel = os.environ.get("LOG_LEVEL", "info")
logconfig_dict = GUNICORN_LOGCONFIG
accesslog = None  # the app logs every request itself, as JSON with its latency
# Heartbeat files in memory: works with a read-only root filesystem and avoids disk stalls.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
limit_request_line = 4094
limit_request_fields = 50
# No gunicornc control socket: it would be created in $HOME (read-only in the pod) and shared by
# every server of a user on one machine.
control_socket_disable = True

# Per-worker metric files, in a directory that is fresh for each server start.
_metrics_dir = tempfile.mkdtemp(prefix="faq-engine-metrics-")
os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir


def when_ready(server):
    server.log.info("numeric library threads per worker: %d", _numeric_threads)
    # The model is loaded; move every object to the permanent generation so the collector
    # never writes to (and so copies) the pages the forked workers share.
    gc.collect()
    gc.freeze()


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    shutil.rmtree(_metrics_dir, ignore_errors=True)
