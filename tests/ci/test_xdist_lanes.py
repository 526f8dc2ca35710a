"""How `make test` splits the suites between pytest-xdist workers (tests/conftest.py): the
groups each worker runs in order, and their order."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import SimpleNamespace

from faqtest.common import ROOT


def _conftest():
    spec = importlib.util.spec_from_file_location("faq_root_conftest", ROOT / "tests" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _item(path: Path) -> SimpleNamespace:
    return SimpleNamespace(nodeid=f"{path.relative_to(ROOT).as_posix()}::test_x")


def test_every_cluster_file_is_in_one_of_the_lanes_and_the_node_files_share_one():
    conftest = _conftest()
    files = sorted((ROOT / "tests" / "cluster").glob("test_*.py"))
    lanes = {f.name: conftest._group(_item(f)) for f in files}
    assert set(lanes.values()) == {"cluster", *conftest.CLUSTER_LANES}, lanes
    # test_nodes adds, drains and kills a node; the smoke tests check every node is Ready
    assert lanes["test_nodes.py"] == lanes["test_cluster_smoke.py"] == "cluster-nodes"
    named = [f for files in conftest.CLUSTER_LANES.values() for f in files]
    assert len(named) == len(set(named)), "a file is named in two lanes"
    assert set(named) <= set(lanes), "a lane names a file that is gone"


def test_images_is_one_group_and_other_files_are_their_own():
    conftest = _conftest()
    for f in sorted((ROOT / "tests" / "images").glob("test_*.py")):
        assert conftest._group(_item(f)) == "images"
    for suite in ("app", "chart", "ci"):
        for f in sorted((ROOT / "tests" / suite).glob("test_*.py")):
            assert conftest._group(_item(f)) == f.relative_to(ROOT).as_posix()


def test_the_lanes_and_images_are_handed_out_first():
    conftest = _conftest()
    # A file named among the first groups exists (a rename would silently send it last again).
    files = [g for g in conftest.FIRST_GROUPS if g.endswith(".py")]
    assert files and all((ROOT / f).is_file() for f in files), files
    marks = []
    items = [SimpleNamespace(nodeid=n, add_marker=marks.append) for n in (
        "tests/app/test_a.py::t", "tests/images/test_i.py::t", "tests/cluster/test_z.py::t",
        "tests/chart/test_c.py::t", "tests/cluster/test_nodes.py::t",
        "tests/cluster/test_lifecycle.py::t", "tests/ci/test_workflows.py::t")]
    config = SimpleNamespace(option=SimpleNamespace(loadgroup=True))
    conftest.pytest_collection_modifyitems(config, items)
    assert [i.nodeid.split("::")[0] for i in items] == [
        "tests/cluster/test_nodes.py", "tests/cluster/test_lifecycle.py",
        "tests/cluster/test_z.py", "tests/images/test_i.py", "tests/ci/test_workflows.py",
        "tests/app/test_a.py", "tests/chart/test_c.py"]
    assert len(marks) == 7
