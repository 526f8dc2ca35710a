"""ci/phase: the phase table `make up` and `make test` print at the end. Runs the real command
(it runs other commands, records their seconds and exit status, prints the table), against
temporary record files and caches."""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

from faqtest.common import ROOT

PHASE = ROOT / "ci" / "phase"


def phase(*args: str, record: Path | None, cache: Path, **kw) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ["PATH"], "HOME": os.environ["HOME"], "FAQ_CACHE": str(cache)}
    if record:
        env["FAQ_PHASES"] = str(record)
    return subprocess.run([str(PHASE), *args], env=env, capture_output=True, text=True,
                          timeout=60, **kw)


def rows(table: str) -> dict[str, list[str]]:
    """phase name -> [start, seconds, state, cpu] of a printed table."""
    out = {}
    for line in table.splitlines()[2:]:
        m = re.match(r"^\s*(\S.*?)\s{2,}(\d+:\d\d)?\s+(\d+)\s+(\d+%|-)\s+(.*)$", line)
        assert m, line
        out[m.group(1)] = [m.group(2), m.group(3), m.group(5), m.group(4)]
    return out


def test_a_phase_passes_its_output_and_exit_status_through_and_is_recorded(tmp_path):
    record, cache = tmp_path / "run.tsv", tmp_path / "cache"
    r = phase("ok", "--", "sh", "-c", "read x; echo out:$x; echo err >&2", record=record,
              cache=cache, input="in\n")
    assert (r.returncode, r.stdout, r.stderr) == (0, "out:in\n", "err\n")
    r = phase("bad", "--", "sh", "-c", "exit 3", record=record, cache=cache)
    assert r.returncode == 3
    r = phase("missing", "--", str(tmp_path / "no-such-command"), record=record, cache=cache)
    assert r.returncode == 127
    table = phase("table", record=record, cache=cache)
    assert table.returncode == 0, table.stderr
    got = rows(table.stdout)
    assert got["ok"][2] == "-"
    assert got["bad"][2] == "FAILED (exit 3)"
    assert got["missing"][2] == "FAILED (exit 127)"


def test_the_table_gives_seconds_starts_and_the_wall_time_of_overlapping_phases(tmp_path):
    record, cache = tmp_path / "run.tsv", tmp_path / "cache"
    env = {"PATH": os.environ["PATH"], "HOME": os.environ["HOME"], "FAQ_CACHE": str(cache),
           "FAQ_PHASES": str(record)}
    # One phase in the background while two others run one after the other.
    bg = subprocess.Popen([str(PHASE), "background", "--", "sleep", "3"], env=env)
    time.sleep(0.2)
    for name in ("first", "second"):
        subprocess.run([str(PHASE), name, "--", "sleep", "1"], env=env, check=True)
    assert bg.wait(timeout=30) == 0
    got = rows(phase("table", str(record), record=None, cache=cache).stdout)
    assert got["background"][:2] == ["0:00", "3"]
    assert got["first"][1] == got["second"][1] == "1"
    assert int(got["second"][0].split(":")[1]) >= 1  # started after the first one ended
    total = got["total"]
    assert total[1] == "3" and total[2].startswith("0:03 wall"), total  # not 3 + 1 + 1


def test_cold_or_cached_per_run_and_per_phase(tmp_path):
    cache = tmp_path / "cache"
    record = tmp_path / "cold.tsv"
    # A cold run: the cache is empty when the first phase ends; the phase builds what it names.
    r = phase("build", "--cache", "bin/tool", "--", "sh", "-c",
              f'mkdir -p "{cache}/bin" && touch "{cache}/bin/tool"', record=record, cache=cache)
    assert r.returncode == 0, r.stderr
    phase("again", "--cache", "bin/tool", "--", "true", record=record, cache=cache)
    phase("glob", "--cache", "bin/t*", "--", "true", record=record, cache=cache)
    phase("absolute", "--cache", str(tmp_path / "nothing"), "--", "true", record=record,
          cache=cache)
    table = phase("table", record=record, cache=cache).stdout
    got = rows(table)
    assert got["build"][2] == "built"
    assert got["again"][2] == got["glob"][2] == "cached"
    assert got["absolute"][2] == "built"
    assert "cold: empty cache at the start" in got["total"][2]
    # The next run starts on that cache.
    record2 = tmp_path / "warm.tsv"
    phase("build", "--cache", "bin/tool", "--", "true", record=record2, cache=cache)
    assert "on a cache" in rows(phase("table", record=record2, cache=cache).stdout)["total"][2]


def test_without_a_record_file_the_command_just_runs(tmp_path):
    r = phase("x", "--", "sh", "-c", "echo hi; exit 4", record=None, cache=tmp_path / "cache")
    assert (r.returncode, r.stdout) == (4, "hi\n")
    assert not (tmp_path / "cache").exists()
    assert phase("table", record=None, cache=tmp_path).returncode == 2
    assert phase("table", str(tmp_path / "none.tsv"), record=None, cache=tmp_path).returncode == 1


def test_bad_usage_is_refused(tmp_path):
    for args in (["x"], ["--", "true"], ["x", "--cache", "--", "true"], ["x", "--"],
                 ["x", "--bogus", "p", "--", "true"]):
        r = phase(*args, record=tmp_path / "r.tsv", cache=tmp_path)
        assert r.returncode == 2 and "usage" in r.stderr, args
    assert not (tmp_path / "r.tsv").exists()


def test_make_test_records_each_suite_as_a_phase(tmp_path):
    """tests/conftest.py adds a row per suite to the run's table, and hides the record file from
    what the tests run (a nested `make` or ci/up.sh records nothing into it)."""
    record = tmp_path / "run.tsv"
    (tmp_path / "tests").mkdir()
    probe = tmp_path / "tests" / "test_probe.py"
    probe.write_text("import os\nimport subprocess\nimport sys\n\n\ndef test_hidden():\n"
                     "    assert 'FAQ_PHASES' not in os.environ\n\n\n"
                     "def test_fails():\n    assert False\n\n\n"
                     "def test_burns_two_cpu_seconds_in_a_child():\n"
                     "    subprocess.run([sys.executable, '-c', 'import time\\n"
                     "end = time.process_time() + 2\\nwhile time.process_time() < end: pass'],"
                     " check=True)\n")
    conftest = (ROOT / "tests" / "conftest.py").read_text()
    (tmp_path / "tests" / "conftest.py").write_text(
        conftest.replace("ROOT = Path(__file__).resolve().parents[1]", f"ROOT = Path({str(ROOT)!r})"))
    env = dict(os.environ, FAQ_PHASES=str(record))
    r = subprocess.run(["python", "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        "-o", f"pythonpath={ROOT / 'tests'}", "tests"],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert "1 failed, 2 passed" in r.stdout, r.stdout[-3000:]
    got = rows(phase("table", str(record), record=None, cache=tmp_path).stdout)
    (name, row), = ((k, v) for k, v in got.items() if k != "total")
    # its tests' CPU seconds, the child's included (2 s of it, and the rest of the test run)
    m = re.fullmatch(r"tests/test_probe\.py \(3 tests, (\d+) cpu-s\)", name)
    assert m and 2 <= int(m.group(1)) <= 10, name
    assert row[2] == "FAILED (exit 1)", got


def test_the_cpu_column_is_the_machines_busy_share(tmp_path):
    """A phase that keeps one core busy shows at least that core's share of the machine (other
    work on the machine only adds to it); records without readings print "-"."""
    record, cache = tmp_path / "run.tsv", tmp_path / "cache"
    burn = "import time\nend = time.process_time() + 2\nwhile time.process_time() < end: pass\n"
    r = phase("burn", "--", "python3", "-c", burn, record=record, cache=cache)
    assert r.returncode == 0, r.stderr
    got = rows(phase("table", record=record, cache=cache).stdout)
    share = 100 / os.cpu_count()
    for row in ("burn", "total"):
        assert got[row][3] != "-" and int(got[row][3][:-1]) >= 0.8 * share, (row, got[row])
    # a record file from before the column: same table, cpu unknown
    old = tmp_path / "old.tsv"
    old.write_text("# faq-engine phases v1\n# cache present /c\nx\t100.0\t105.0\t0\tcached\n")
    got = rows(phase("table", str(old), record=None, cache=cache).stdout)
    assert got["x"] == ["0:00", "5", "cached", "-"]
    assert got["total"][3] == "-"
