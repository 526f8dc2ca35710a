"""numpy's BLAS gets each process's share of the CPUs it may use (faq_engine/threads.py): the
cgroup quota (v2 and v1, read from a cgroup tree on disk), the chart's CPU limit
(CPU_LIMIT_MILLICORES), the cores; divided among gunicorn workers; NUMERIC_THREADS overrides.
The real library is asked how many threads it runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from faq_engine.threads import cpu_budget, threads_per_process

CORES = len(os.sched_getaffinity(0))
CLEAN = {k: v for k, v in os.environ.items()
         if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                      "NUMERIC_THREADS", "CPU_LIMIT_MILLICORES")}
CONF = Path(__file__).resolve().parents[2] / "app" / "faq_engine" / "gunicorn.conf.py"

# Load what a process loads, then ask OpenBLAS (numpy's bundled scipy-openblas) for its threads.
ASK_OPENBLAS = """
import ctypes, glob, sys
{setup}
import numpy
lib = ctypes.CDLL(glob.glob(numpy.__path__[0] + '.libs/libscipy_openblas*')[0])
print(lib.scipy_openblas_get_num_threads64_())
"""


def openblas_threads(setup: str, **env) -> int:
    r = subprocess.run([sys.executable, "-c", ASK_OPENBLAS.format(setup=setup)],
                       env=dict(CLEAN, **env), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return int(r.stdout.split()[-1])


def cgroup_v2(tmp_path, quotas: dict[str, str]) -> tuple[Path, Path]:
    root = tmp_path / "cgroup"
    for rel, value in quotas.items():
        (root / rel).mkdir(parents=True, exist_ok=True)
        (root / rel / "cpu.max").write_text(value + "\n")
    proc = tmp_path / "proc-cgroup"
    proc.write_text("0::/kubepods/pod1/app\n")
    return root, proc


def test_cgroup_v2_quota_of_the_process_and_its_parents(tmp_path):
    root, proc = cgroup_v2(tmp_path, {"": "max 100000", "kubepods/pod1": "150000 100000",
                                      "kubepods/pod1/app": "max 100000"})
    assert cpu_budget({}, root, proc) == min(CORES, 2)  # 1.5 CPUs rounds up to 2
    assert threads_per_process(2, {}, root, proc) == 1


def test_cgroup_v1_quota(tmp_path):
    root = tmp_path / "cgroup"
    (root / "cpu,cpuacct").mkdir(parents=True)
    (root / "cpu,cpuacct" / "cpu.cfs_quota_us").write_text("50000\n")
    (root / "cpu,cpuacct" / "cpu.cfs_period_us").write_text("100000\n")
    proc = tmp_path / "proc-cgroup"
    proc.write_text("3:cpu,cpuacct:/\n0::/\n")
    assert cpu_budget({}, root, proc) == 1


def test_no_quota_means_the_cores(tmp_path):
    root, proc = cgroup_v2(tmp_path, {"": "max 100000"})
    assert cpu_budget({}, root, proc) == CORES
    assert threads_per_process(1, {}, root, proc) == CORES


def test_chart_cpu_limit_and_override(tmp_path):
    root, proc = cgroup_v2(tmp_path, {"": "max 100000"})
    assert cpu_budget({"CPU_LIMIT_MILLICORES": "1"}, root, proc) == 1  # 1m rounds up to 1 CPU
    assert cpu_budget({"CPU_LIMIT_MILLICORES": "64000"}, root, proc) == CORES  # never past the cores
    assert threads_per_process(4, {"NUMERIC_THREADS": "3"}, root, proc) == 3
    with pytest.raises(SystemExit, match="NUMERIC_THREADS='0'"):
        threads_per_process(1, {"NUMERIC_THREADS": "0"}, root, proc)


def test_gunicorn_workers_share_the_cores():
    conf = f"import runpy; runpy.run_path({str(CONF)!r})"
    assert openblas_threads(conf, WEB_CONCURRENCY="1", GUNICORN_WORKER_CLASS="gthread") == CORES
    assert openblas_threads(conf, WEB_CONCURRENCY=str(CORES), GUNICORN_WORKER_CLASS="gthread") == 1
    assert openblas_threads(conf, WEB_CONCURRENCY="1", GUNICORN_WORKER_CLASS="gthread",
                            CPU_LIMIT_MILLICORES="1000") == 1
    assert openblas_threads(conf, WEB_CONCURRENCY=str(CORES), GUNICORN_WORKER_CLASS="gthread",
                            NUMERIC_THREADS="2") == 2
    # An explicit library setting is kept.
    assert openblas_threads(conf, WEB_CONCURRENCY=str(CORES), GUNICORN_WORKER_CLASS="gthread",
                            OPENBLAS_NUM_THREADS="2") == 2


def test_command_line_uses_the_cpu_limit(trained_model):
    run_ask = ("from faq_engine.cli import main; "
               f"main(['ask', '--model-dir', {str(trained_model)!r}, 'rollback'])")
    assert openblas_threads(run_ask, CPU_LIMIT_MILLICORES="1000") == 1
    assert openblas_threads(run_ask, NUMERIC_THREADS="1") == 1
