"""One Go module cache and one build cache for every Go build of ci/ (the tools, the cluster, its
registry and metrics-server), under $FAQ_CACHE: an empty FAQ_CACHE is a cold build, and a module
or package shared by two tools is downloaded or compiled once. Asks `go env` itself."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from faqtest.common import ROOT


def sourced(env: dict[str, str], script: str, times: int = 1) -> str:
    """stdout of SCRIPT run by bash after sourcing ci/versions.env TIMES times."""
    source = f'. "{ROOT}/ci/versions.env"; ' * times
    r = subprocess.run(["bash", "-c", f"{source}{script}"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def go_env(env: dict[str, str]) -> list[str]:
    return sourced(env, "go env GOMODCACHE GOCACHE").split()


def test_go_caches_live_under_faq_cache(tmp_path: Path) -> None:
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path / "home"),
           "FAQ_CACHE": str(tmp_path / "cache")}
    assert go_env(env) == [str(tmp_path / "cache" / "go" / "mod"),
                           str(tmp_path / "cache" / "go" / "build")]


def test_go_caches_set_in_the_environment_win(tmp_path: Path) -> None:
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path / "home"),
           "FAQ_CACHE": str(tmp_path / "cache"), "GOMODCACHE": str(tmp_path / "mod"),
           "GOCACHE": str(tmp_path / "build")}
    assert go_env(env) == [str(tmp_path / "mod"), str(tmp_path / "build")]


def goflags(env: dict[str, str], times: int = 1) -> str:
    return sourced(env, 'printf %s "$GOFLAGS"', times)


def test_go_builds_skip_the_compilers_dwarf_once_and_keep_the_callers_goflags(tmp_path: Path) -> None:
    """ci/versions.env adds -gcflags=all=-dwarf=false to GOFLAGS (the linker's -s -w drops the
    DWARF anyway); scripts source it again from each other, and the flag stays single."""
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path / "home")}
    assert goflags(env).split() == ["-gcflags=all=-dwarf=false"]
    assert goflags(env, times=3).split() == ["-gcflags=all=-dwarf=false"]
    assert goflags({**env, "GOFLAGS": "-mod=mod"}).split() == ["-mod=mod", "-gcflags=all=-dwarf=false"]
    assert sourced(env, "go env GOFLAGS").split() == ["-gcflags=all=-dwarf=false"]


def test_go_builds_collect_garbage_near_a_memory_limit_and_only_the_builds(tmp_path: Path) -> None:
    """ci/versions.env names the builds' GOGC and GOMEMLIMIT (GO_BUILD_GOGC=off with a
    GO_BUILD_GOMEMLIMIT that Go accepts; the environment's win) but exports neither: what sources
    it, such as the cluster scripts that start the components, runs Go programs at Go's defaults."""
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path / "home")}
    gogc, limit = sourced(env, 'printf "%s %s" "$GO_BUILD_GOGC" "$GO_BUILD_GOMEMLIMIT"').split()
    assert gogc == "off" or int(gogc) > 100, gogc
    # the go command is a Go program: a GOMEMLIMIT its runtime cannot parse is fatal to it
    r = subprocess.run(["go", "version"], env={**env, "GOGC": gogc, "GOMEMLIMIT": limit},
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, f"GOMEMLIMIT={limit}: {r.stderr}"
    bad = subprocess.run(["go", "version"], env={**env, "GOMEMLIMIT": "2 gigabytes"},
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "GOMEMLIMIT" in bad.stderr, bad.stderr
    assert sourced({**env, "GO_BUILD_GOGC": "150", "GO_BUILD_GOMEMLIMIT": "1GiB"},
                   'printf "%s %s" "$GO_BUILD_GOGC" "$GO_BUILD_GOMEMLIMIT"') == "150 1GiB"
    assert sourced(env, 'printf "%s %s" "${GOGC-unset}" "${GOMEMLIMIT-unset}"; '
                   'bash -c \'printf " %s %s" "${GOGC-unset}" "${GOMEMLIMIT-unset}"\'') \
        == "unset unset unset unset"


def test_the_tests_go_commands_collect_near_a_limit_go_accepts() -> None:
    """faqtest's runners of Go command lines (faqtest.chart.run, faqtest.lifecycle.helm,
    faqtest.kube.Kubectl) pass GO_CLI_GC, and a Go runtime accepts its limit (one it cannot
    parse is fatal to the program at start)."""
    from faqtest.chart import run
    from faqtest.common import GO_CLI_GC

    assert GO_CLI_GC["GOGC"] == "off" and GO_CLI_GC["GOMEMLIMIT"]
    r = run(["go", "version"])
    assert r.returncode == 0, f"GOMEMLIMIT={GO_CLI_GC['GOMEMLIMIT']}: {r.stderr}"
    seen = dict(line.split("=", 1) for line in run(["env"]).stdout.splitlines() if "=" in line)
    assert {k: seen.get(k) for k in GO_CLI_GC} == GO_CLI_GC
