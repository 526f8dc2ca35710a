"""gunicorn settings, all from the environment (the container and `faq-engine serve` share it).

PORT (8080), WEB_CONCURRENCY (2 workers), GUNICORN_WORKER_CLASS (gevent), GUNICORN_WORKER_CONNECTIONS
(1000 connections a gevent worker holds at once), GUNICORN_THREADS (2, gthread only),
GUNICORN_TIMEOUT (30 s: a worker that does not check in with the master for that long, e.g. stuck
in one request, is killed and replaced; it is not a limit on a slow client), GUNICORN_GRACEFUL_TIMEOUT
(20 s), GUNICORN_KEEPALIVE (5 s), LOG_LEVEL (info).

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

wsgi_app = "faq_engine.wsgi:app"
bind = [f"0.0.0.0:{int(os.environ.get('PORT', '8080'))}"]
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
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
    # The model is loaded; move every object to the permanent generation so the collector
    # never writes to (and so copies) the pages the forked workers share.
    gc.collect()
    gc.freeze()


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    shutil.rmtree(_metrics_dir, ignore_errors=True)
