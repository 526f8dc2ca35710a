"""gunicorn settings, all from the environment (the container and `faq-engine serve` share it).

PORT (8080), WEB_CONCURRENCY (2 workers), GUNICORN_THREADS (2), GUNICORN_TIMEOUT (30 s),
GUNICORN_GRACEFUL_TIMEOUT (20 s), GUNICORN_KEEPALIVE (5 s), LOG_LEVEL (info).
The app (and so the model) is loaded once in the master before the workers fork
(``preload_app``): its memory-mapped arrays are then shared by every worker.
"""

import gc
import os
import shutil
import tempfile

from faq_engine.logs import GUNICORN_LOGCONFIG

wsgi_app = "faq_engine.wsgi:app"
bind = [f"0.0.0.0:{int(os.environ.get('PORT', '8080'))}"]
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
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
