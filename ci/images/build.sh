#!/usr/bin/env bash
# Build the app image and the model images with podman, from the same Dockerfiles users build
# with docker, on the local base-image stand-ins (ci/images/bases.sh). Models are trained into
# build/models/<version> (ignored by git) from the sample FAQ.
#
#   ci/images/build.sh              app image + Doc2Vec model images 1.0 and 1.1 + embedding
#                                   model image 2.0 (all-MiniLM-L6-v2, from the pinned package)
#   MODEL_VERSIONS="1.0" EMBEDDING_VERSIONS="" ci/images/build.sh
# Prints the image names it built, one a line, on stdout.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
# shellcheck source=../versions.env
. ci/versions.env
APP_VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
APP_IMAGE=${APP_IMAGE:-localhost/faq-engine}
MODEL_IMAGE=${MODEL_IMAGE:-localhost/faq-engine-model}
MODEL_VERSIONS=${MODEL_VERSIONS-1.0 1.1}
EMBEDDING_VERSIONS=${EMBEDDING_VERSIONS-2.0}
FAQ=${FAQ:-app/faq_engine/data/sample-faq.jsonl}
revision=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)

bash ci/images/bases.sh >&2
venv=$(bash ci/python-env.sh)

podman build --network host -q -f Dockerfile.app \
  --build-arg BASE_IMAGE="$PYTHON_BASE" --build-arg VERSION="$APP_VERSION" \
  --build-arg REVISION="$revision" -t "$APP_IMAGE:$APP_VERSION" . >&2
echo "$APP_IMAGE:$APP_VERSION"

# build_model VERSION KIND SEED: train (only when the FAQ or kind changed) and build the image.
build_model() {
  local v=$1 kind=$2 seed=$3 out=build/models/$1 want
  want=$(sha256sum "$FAQ" | cut -d' ' -f1)
  if ! grep -q "\"faq_sha256\": \"$want\"" "$out/manifest.json" 2>/dev/null \
     || ! grep -q "^  \"kind\": \"$kind\",$" "$out/manifest.json"; then
    "$venv/bin/faq-engine" train --kind "$kind" --faq "$FAQ" --out "$out" --version "$v" \
      --seed "$seed" --force >&2
  fi
  podman build -q -f Dockerfile.model --build-arg BASE_IMAGE="$ALPINE_BASE" \
    --build-arg MODEL_DIR="$out" --build-arg VERSION="$v" --build-arg REVISION="$revision" \
    -t "$MODEL_IMAGE:$v" . >&2
  echo "$MODEL_IMAGE:$v"
}

seed=42
for v in $MODEL_VERSIONS; do
  build_model "$v" doc2vec "$seed"
  seed=$((seed + 1))
done
for v in $EMBEDDING_VERSIONS; do
  build_model "$v" embedding 42
done
