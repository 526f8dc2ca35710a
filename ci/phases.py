"""Phase timings of a `make` run: where its time went, printed as a table at the end.

    ci/phase NAME [--cache PATH] -- CMD [ARG...]   run CMD (stdin/stdout/stderr passed through),
                                                    record NAME's start, end and exit status;
                                                    exits with CMD's status
    ci/phase table [FILE]                           print the table of FILE (default $FAQ_PHASES)

Records go to the file $FAQ_PHASES (the Makefile sets one per `make` run under build/phases/);
without FAQ_PHASES, CMD just runs. `--cache PATH` names what the phase builds: the phase is
"cached" when PATH existed before it ran, "built" when it did not. The first record of a run
notes whether the cache ($FAQ_CACHE) was empty then: a cold run, or a run on a cache. PATH may
be a glob, and is taken under $FAQ_CACHE when relative (`--cache bin/helm`).
Phases may overlap (one runs in the background while another builds): each row gives its start
from the run's first start, and the total is the wall time from the first start to the last end.
The cpu column is how busy the whole machine was during the phase (all its cores, every process,
read from /proc/stat: the phase's own work and whatever ran beside it): near 100 % the machine,
not the waiting, is what the phase's time went to.
"""

from __future__ import annotations

import fcntl
import glob
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HEADER = "# faq-engine phases v1"


@dataclass
class Phase:
    name: str
    start: float
    end: float
    rc: int
    state: str  # built | cached | - (not known)
    busy: tuple[float, float] | None = None  # the machine's busy CPU seconds at start and end


def machine_busy() -> float | None:
    """CPU seconds the machine's cores have spent busy since boot (/proc/stat), or None."""
    try:
        fields = Path("/proc/stat").read_text(encoding="ascii").split("\n", 1)[0].split()
    except OSError:
        return None
    # cpu user nice system idle iowait irq softirq steal ...: all but idle and iowait
    ticks = [int(v) for v in fields[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def faq_cache() -> Path:
    """$FAQ_CACHE as ci/versions.env (its one owner) defines it."""
    root = Path(__file__).resolve().parent
    out = subprocess.run(["bash", "-c", '. "$1"; printf %s "$FAQ_CACHE"', "-",
                          str(root / "versions.env")], capture_output=True, text=True, check=True)
    return Path(out.stdout)


def cache_is_empty(cache: Path) -> bool:
    """Nothing in the cache but phase records and lock files."""
    if not cache.is_dir():
        return True
    return not any(not p.name.startswith(".") for p in cache.iterdir())


def begin(path: Path) -> None:
    """Before a phase runs: a new record file starts with the header and the cache's state."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # phases in the background write too
        if f.tell() == 0:
            cache = faq_cache()
            state = "empty" if cache_is_empty(cache) else "present"
            f.write(f"{HEADER}\n# cache {state} {cache}\n# cpus {os.cpu_count()}\n")


def append(path: Path, phase: Phase) -> None:
    """Add one record."""
    begin(path)
    with open(path, "a", encoding="utf-8") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        busy = "\t%.2f\t%.2f" % phase.busy if phase.busy else ""
        f.write(f"{phase.name}\t{phase.start:.3f}\t{phase.end:.3f}\t{phase.rc}\t{phase.state}"
                f"{busy}\n")


def load(path: Path) -> tuple[str, int, list[Phase]]:
    """(cache state at the start: empty | present | ?, the machine's cores (0: not known),
    phases in the order they started)."""
    cache, cpus, phases = "?", 0, []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# cache "):
            cache = line.split()[2]
        elif line.startswith("# cpus "):
            cpus = int(line.split()[2])
        elif line and not line.startswith("#"):
            name, start, end, rc, state, *busy = line.split("\t")
            phases.append(Phase(name, float(start), float(end), int(rc), state,
                                (float(busy[0]), float(busy[1])) if busy else None))
    phases.sort(key=lambda p: p.start)
    return cache, cpus, phases


def mmss(seconds: float) -> str:
    s = round(seconds)
    return f"{s // 60}:{s % 60:02d}"


def cpu_percent(busy: float, seconds: float, cpus: int) -> str:
    """The machine's busy share of `seconds` on `cpus` cores, as printed."""
    if not cpus or seconds < 1:
        return "-"
    return f"{min(100.0, 100 * busy / (seconds * cpus)):.0f}%"


def table(path: Path) -> str:
    cache, cpus, phases = load(path)
    if not phases:
        return f"no phases recorded in {path}\n"
    t0 = phases[0].start
    width = max(len("phase"), *(len(p.name) for p in phases))
    lines = [f"{'phase':<{width}}  {'start':>6}  {'seconds':>7}  {'cpu':>4}  state",
             f"{'-' * width}  {'-' * 6}  {'-' * 7}  {'-' * 4}  ------"]
    for p in phases:
        state = p.state if p.rc == 0 else f"FAILED (exit {p.rc})"
        seconds = p.end - p.start
        cpu = cpu_percent(p.busy[1] - p.busy[0], seconds, cpus) if p.busy else "-"
        lines.append(f"{p.name:<{width}}  {mmss(p.start - t0):>6}  {seconds:7.0f}  {cpu:>4}  {state}")
    wall = max(p.end for p in phases) - t0
    timed = [p.busy for p in phases if p.busy]
    cpu = "-"
    if timed:  # from the first reading to the last: the run's phases cover its wall time
        cpu = cpu_percent(max(b[1] for b in timed) - min(b[0] for b in timed), wall, cpus)
    run = {"empty": "cold: empty cache at the start", "present": "on a cache"}.get(cache, "?")
    lines.append(f"{'total':<{width}}  {'':>6}  {wall:7.0f}  {cpu:>4}  {mmss(wall)} wall, {run}")
    return "\n".join(lines) + "\n"


def run(name: str, cmd: list[str], cache_path: str | None) -> int:
    record = os.environ.get("FAQ_PHASES")
    state = "-"
    if cache_path:
        pattern = cache_path if os.path.isabs(cache_path) else str(faq_cache() / cache_path)
        state = "cached" if glob.glob(pattern) else "built"
    if record:
        begin(Path(record))
    start, busy0 = time.time(), machine_busy()
    # The child gets the terminal's signals itself; wait for it and record how it ended.
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        rc = subprocess.call(cmd)
    except FileNotFoundError:
        print(f"ci/phase: {name}: no such command: {cmd[0]}", file=sys.stderr)
        rc = 127
    finally:
        signal.signal(signal.SIGINT, old)
    if rc < 0:
        rc = 128 - rc
    if record:
        busy1 = machine_busy()
        busy = (busy0, busy1) if busy0 is not None and busy1 is not None else None
        append(Path(record), Phase(name, start, time.time(), rc, state, busy))
    return rc


def main(argv: list[str]) -> int:
    usage = "usage: ci/phase NAME [--cache PATH] -- CMD [ARG...] | ci/phase table [FILE]"
    if argv[:1] == ["table"]:
        if len(argv) > 2:
            print(usage, file=sys.stderr)
            return 2
        where = argv[1] if len(argv) == 2 else os.environ.get("FAQ_PHASES")
        if not where:
            print("ci/phase table: no FILE and no FAQ_PHASES", file=sys.stderr)
            return 2
        path = Path(where)
        if not path.is_file():
            print(f"ci/phase table: no records in {path}", file=sys.stderr)
            return 1
        sys.stdout.write(table(path))
        return 0
    if "--" not in argv or argv.index("--") == 0:
        print(usage, file=sys.stderr)
        return 2
    sep = argv.index("--")
    head, cmd = argv[:sep], argv[sep + 1:]
    name, opts = head[0], head[1:]
    cache_path = None
    if opts:
        if len(opts) != 2 or opts[0] != "--cache":
            print(usage, file=sys.stderr)
            return 2
        cache_path = opts[1]
    if not cmd or "\t" in name or "\n" in name:
        print(usage, file=sys.stderr)
        return 2
    return run(name, cmd, cache_path)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
