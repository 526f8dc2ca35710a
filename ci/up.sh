#!/usr/bin/env bash
# The main job (`make up`): from a fresh machine to a running faq-engine that answers.
#   1. the images (app + models 1.0 and 1.1), built with podman on local base images
#   2. a cluster: the one KUBECONFIG points at when it is reachable, else the local one
#      (ci/cluster/up.sh: upstream Kubernetes as host processes, with its OCI registry)
#   3. the images pushed to the local registry (ci/images/push.sh), digests captured
#   4. helm upgrade --install with chart/ci/local-images.yaml, each image as tag@digest (what
#      the push reported; the kubelet pulls exactly that), in a namespace that enforces Pod
#      Security "restricted"
#   5. helm test, then one question asked through the Service
# A second run reuses everything (cached tools, images, cluster) and upgrades in place.
# `ci/up.sh --uninstall` uninstalls the release from its namespace instead (`make down`).
# Runs with ci/with-env (tools on PATH).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=versions.env
. ci/versions.env
RELEASE=${RELEASE:-faq-engine}
NAMESPACE=${NAMESPACE:-faq-engine}
say() { printf '\n==> %s\n' "$*" >&2; }

if [ "${1:-}" = "--uninstall" ]; then
  if ! kubectl get --raw /readyz --request-timeout=5s >/dev/null 2>&1; then
    echo "no cluster reachable: nothing to uninstall" >&2
  elif helm status "$RELEASE" --namespace "$NAMESPACE" >/dev/null 2>&1; then
    helm uninstall "$RELEASE" --namespace "$NAMESPACE" --wait
  else
    echo "no release $RELEASE in namespace $NAMESPACE: nothing to uninstall" >&2
  fi
  exit 0
fi

say "images"
mapfile -t images < <(bash ci/images/build.sh)
printf '    %s\n' "${images[@]}" >&2

say "cluster"
if [ -n "${KUBECONFIG:-}" ] && [ "$KUBECONFIG" != "$FAQ_CACHE/cluster/kubeconfig" ] \
   && kubectl get --raw /readyz --request-timeout=5s >/dev/null 2>&1; then
  FAQ_CLUSTER=existing bash ci/cluster/up.sh >/dev/null
  echo "    using the configured cluster ($(kubectl config current-context)); push the images" \
       "above to a registry it can pull from (REGISTRY=... ci/images/push.sh IMAGE...) and" \
       "set image.repository / model.repository" >&2
  sets=()
else
  export KUBECONFIG
  KUBECONFIG=$(bash ci/cluster/up.sh)
  say "pushing the images to the local registry ($LOCAL_REGISTRY)"
  mapfile -t pushed < <(bash ci/images/push.sh "${images[@]}")
  printf '    %s\n' "${pushed[@]}" >&2
  # tag@digest in the tag key: pulled by digest, and `--set model.tag=1.1` later replaces both.
  tag_at_digest() { # tag_at_digest NAME[:TAG] -> TAG@sha256:... of the pushed image
    local ref
    ref=$(printf '%s\n' "${pushed[@]}" | grep -F "/$1" | head -1)
    [ -n "$ref" ] || { echo "no pushed image $1 in: ${pushed[*]}" >&2; exit 1; }
    ref=${ref##*/}
    echo "${ref#*:}"
  }
  sets=(--set-string "image.tag=$(tag_at_digest faq-engine:)"
        --set-string "model.tag=$(tag_at_digest faq-engine-model:1.0@)")
fi

say "helm upgrade --install $RELEASE ./chart (namespace $NAMESPACE)"
kubectl create namespace "$NAMESPACE" --dry-run=client -o yaml \
  | kubectl label --local -f - pod-security.kubernetes.io/enforce=restricted -o yaml \
  | kubectl apply -f - >/dev/null
helm upgrade --install "$RELEASE" ./chart --namespace "$NAMESPACE" --wait --timeout 5m \
  -f chart/ci/local-images.yaml "${sets[@]}" "$@"

say "helm test $RELEASE"
helm test "$RELEASE" --namespace "$NAMESPACE" --logs --timeout 3m

say "asking a question through the Service"
read -r svc_name svc < <(bash ci/service-address.sh "$RELEASE" "$NAMESPACE")
answer=$(curl -sS --max-time 10 -H 'Content-Type: application/json' \
  -d '{"question": "How do I roll out a new model version?", "top_k": 1}' "http://$svc/v1/answer")
echo "$answer" | python3 -m json.tool

cat >&2 <<MSG

faq-engine is up (release $RELEASE, namespace $NAMESPACE).
  export KUBECONFIG=$KUBECONFIG
  kubectl -n $NAMESPACE port-forward svc/$svc_name 8080:80 &
  curl -s localhost:8080/v1/answer -H 'Content-Type: application/json' -d '{"question": "How do I roll back?"}'
  helm upgrade $RELEASE ./chart -n $NAMESPACE --reuse-values --set model.tag=1.1   # roll out model 1.1
  helm rollback $RELEASE -n $NAMESPACE                                              # and back
  ci/release model 1.2     # a release: build, push to $LOCAL_REGISTRY, bump the chart, upgrade by digest
MSG
