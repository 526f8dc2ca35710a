"""ci/images/prune.sh: superseded builds of this project's images leave podman's store; tagged
images and other projects' images stay. Real podman builds; each test prunes only a title of
its own, so the other workers' builds running beside it are never in reach."""
from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest
from faqtest.common import ONE_OFF_BUILD, ci_setting

ROOT = Path(__file__).resolve().parents[2]
PRUNE = ROOT / "ci" / "images" / "prune.sh"
TITLE = "org.opencontainers.image.title"


def podman(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["podman", *args], capture_output=True, text=True, check=check)


def build(ctx: Path, tag: str, content: str, title: str | None) -> str:
    """An image FROM the local Alpine base with one file of ``content``; its ID."""
    label = f'LABEL {TITLE}="{title}"\n' if title else ""
    (ctx / "Dockerfile").write_text(
        f"FROM {ci_setting('ALPINE_BASE')}\n{label}RUN echo {content} > /content\n")
    podman("build", *ONE_OFF_BUILD, "-q", "-t", tag, str(ctx))
    return podman("image", "inspect", "--format", "{{.Id}}", tag).stdout.strip()


def exists(image_id: str) -> bool:
    return podman("image", "exists", image_id, check=False).returncode == 0


@pytest.fixture
def names(tmp_path):
    """Unique title and tags for one test; every image left behind is removed afterwards."""
    tag = uuid.uuid4().hex[:8]
    made = {"title": f"faq-engine-prune-test-{tag}", "ours": f"localhost/prune-test-ours:{tag}",
            "theirs": f"localhost/prune-test-theirs:{tag}", "ids": []}
    yield made
    podman("rmi", "-f", made["ours"], made["theirs"], *made["ids"], check=False)


def test_a_superseded_build_is_removed_and_the_tagged_one_stays(tmp_path, names):
    old = build(tmp_path, names["ours"], "old", names["title"])
    new = build(tmp_path, names["ours"], "new", names["title"])
    names["ids"] += [old, new]
    assert old != new and exists(old), "the rebuild should leave the old image dangling"

    r = subprocess.run(["bash", str(PRUNE), names["title"]], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert not exists(old), f"the superseded build {old[:12]} is still in podman's store"
    assert exists(new), "the tagged image was removed"


def test_other_projects_dangling_images_stay(tmp_path, names):
    theirs_old = build(tmp_path, names["theirs"], "theirs-old", None)
    unrelated_old = build(tmp_path, names["theirs"], "labelled-otherwise", "someone-else")
    newest = build(tmp_path, names["theirs"], "theirs-newest", None)
    names["ids"] += [theirs_old, unrelated_old, newest]

    r = subprocess.run(["bash", str(PRUNE), names["title"]], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert exists(theirs_old), "an unlabelled dangling image of another project was removed"
    assert exists(unrelated_old), "a dangling image with another title was removed"


def test_the_default_titles_are_the_labels_of_the_images_built(images):
    """With no argument prune.sh prunes the titles it reads from the Dockerfiles: the very
    labels of the app and model images ci/images/build.sh built."""
    r = subprocess.run(["bash", str(PRUNE), "--titles"], capture_output=True, text=True,
                       check=True)
    built = {podman("image", "inspect", "--format", f'{{{{index .Labels "{TITLE}"}}}}',
                    images[k]).stdout.strip() for k in ("app", "model-1.0")}
    assert sorted(r.stdout.split()) == sorted(built)
