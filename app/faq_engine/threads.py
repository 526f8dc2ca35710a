"""How many threads each process's numeric libraries (OpenBLAS, OpenMP, MKL) may use.

Left alone, numpy's BLAS starts one thread per core of the machine in every process: on a
shared node, or with several gunicorn workers, those threads outnumber the CPUs the container
may use and spin against each other (the embedding kind then answers about ten times slower
under contention). So each process gets its share of the CPUs it may use:

    CPUs = the fewest of: the cores this process may run on (affinity), the cgroup's CPU quota
           (v2 ``cpu.max``, v1 ``cpu.cfs_quota_us``), and ``CPU_LIMIT_MILLICORES`` (the chart
           sets it from the container's CPU limit through the downward API), rounded up
    threads per process = max(1, CPUs // processes)

``NUMERIC_THREADS`` overrides the result; a library variable already set (e.g.
``OPENBLAS_NUM_THREADS``) is kept. The libraries read these variables once, when they load, so
``apply`` runs before numpy is imported: in gunicorn.conf.py (processes = workers) and in the
``faq-engine`` command (one process).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

# The variables the numeric libraries numpy may load read at start-up.
LIBRARY_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
OVERRIDE = "NUMERIC_THREADS"
LIMIT_ENV = "CPU_LIMIT_MILLICORES"


def _ancestors(path: str):
    """A cgroup path and each parent up to the root: '/a/b' -> 'a/b', 'a', ''."""
    parts = [p for p in path.split("/") if p]
    return ["/".join(parts[:i]) for i in range(len(parts), -1, -1)]


def _read_quota(quota_file: Path, period_file: Path | None) -> float | None:
    try:
        if period_file is None:  # v2 cpu.max: "max 100000" or "150000 100000"
            quota, period = quota_file.read_text().split()[:2]
            return None if quota == "max" else int(quota) / int(period)
        quota, period = int(quota_file.read_text()), int(period_file.read_text())
        return None if quota <= 0 or period <= 0 else quota / period
    except (OSError, ValueError):
        return None


def _cgroup_cpus(root: Path, proc_cgroup: Path = Path("/proc/self/cgroup")) -> float | None:
    """The tightest CPU quota on this process's cgroup and its parents, in CPUs; None if none.

    Inside a container the process's cgroup is the root of what it sees; on a host it is a path
    (``/proc/self/cgroup``) under the cgroup mount."""
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        lines = []
    quotas = []
    for line in lines:
        hier, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        if hier == "0" and controllers == "":  # cgroup v2
            for rel in _ancestors(path):
                quotas.append(_read_quota(root / rel / "cpu.max", None))
        elif "cpu" in controllers.split(","):  # cgroup v1
            for mount in (root / "cpu", root / controllers):
                for rel in _ancestors(path):
                    quotas.append(_read_quota(mount / rel / "cpu.cfs_quota_us",
                                              mount / rel / "cpu.cfs_period_us"))
    if not lines:  # no /proc/self/cgroup: the mount's own root files
        quotas += [_read_quota(root / "cpu.max", None),
                   _read_quota(root / "cpu" / "cpu.cfs_quota_us", root / "cpu" / "cpu.cfs_period_us")]
    found = [q for q in quotas if q is not None]
    return min(found) if found else None


def cpu_budget(env: dict | None = None, cgroup_root: Path = Path("/sys/fs/cgroup"),
               proc_cgroup: Path = Path("/proc/self/cgroup")) -> int:
    """The whole CPUs this process may use (at least 1)."""
    env = os.environ if env is None else env
    limits: list[float] = [len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                           else (os.cpu_count() or 1)]
    if (quota := _cgroup_cpus(cgroup_root, proc_cgroup)) is not None:
        limits.append(quota)
    try:
        millicores = int(env.get(LIMIT_ENV, "") or 0)
    except ValueError:
        millicores = 0
    if millicores > 0:
        limits.append(millicores / 1000)
    return max(1, math.ceil(min(limits) - 1e-9))


def threads_per_process(processes: int, env: dict | None = None,
                        cgroup_root: Path = Path("/sys/fs/cgroup"),
                        proc_cgroup: Path = Path("/proc/self/cgroup")) -> int:
    env = os.environ if env is None else env
    override = env.get(OVERRIDE, "").strip()
    if override:
        try:
            n = int(override)
        except ValueError:
            raise SystemExit(f"{OVERRIDE}={override!r}: must be a whole number of threads, 1 or "
                             "more") from None
        if n < 1:
            raise SystemExit(f"{OVERRIDE}={override!r}: must be 1 or more")
        return n
    return max(1, cpu_budget(env, cgroup_root, proc_cgroup) // max(1, processes))


def apply(processes: int, env: dict | None = None, own: bool = False):
    """Set the library variables that are not set yet for ``processes`` processes sharing the
    CPUs; returns the thread count, or with ``own`` the names it set. Call it before numpy is
    imported."""
    env = os.environ if env is None else env
    n = threads_per_process(processes, env)
    mine = {name for name in LIBRARY_VARS if name not in env}
    for name in mine:
        env[name] = str(n)
    return mine if own else n
