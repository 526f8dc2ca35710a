#!/usr/bin/env bash
# The main job (`make up`): from a fresh machine to a running faq-engine that answers.
#   1. the images (app + Doc2Vec models 1.0 and 1.1; the embedding model only when MODEL_TAG
#      names it), built with podman on local base images, in the background while
#   2. a cluster comes up: the one KUBECONFIG points at when it is reachable, else the local one
#      (ci/cluster/up.sh: upstream Kubernetes as host processes, with its OCI registry)
#   3. the images pushed to the local registry (ci/images/push.sh), digests captured
#   4. helm upgrade --install with chart/ci/local-images.yaml, each image as tag@digest (what
#      the push reported; the kubelet pulls exactly that), in a namespace that enforces Pod
#      Security "restricted"
#   5. helm test, then one question asked through the Service
#   (3b. the chart packaged, signed and pushed to oci://LOCAL_REGISTRY/charts: ci/release chart)
# A second run reuses everything (cached tools, images, cluster) and upgrades in place.
# `ci/up.sh --uninstall` uninstalls the release from its namespace instead (`make down`).
# Runs with ci/with-env (tools on PATH: helm is all it needs). Each step is a phase of
# ci/phase (the table `make up` prints at the end).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=versions.env
. ci/versions.env
RELEASE=${RELEASE:-faq-engine}
NAMESPACE=${NAMESPACE:-faq-engine}
say() { printf '\n==> %s\n' "$*" >&2; }
phase() { "$root/ci/phase" "$@"; }

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

# The images the release needs: the Doc2Vec models of a full build (1.0 deployed, 1.1 the roll-out
# the message below suggests); the embedding model (93 MB) only when MODEL_TAG (make up
# MODEL_TAG=2.0) is not one of those.
export MODEL_VERSIONS=${MODEL_VERSIONS-1.0 1.1}
case " $MODEL_VERSIONS " in
  *" ${MODEL_TAG:-1.0} "*) export EMBEDDING_VERSIONS=${EMBEDDING_VERSIONS-} ;;
esac
say "images (in the background: ci/images/build.sh) and the cluster"
built=$(mktemp)
# In a process group of its own, so that a failing cluster step stops the whole image build.
setsid "$root/ci/phase" images -- bash ci/images/build.sh >"$built" &
images_pid=$!
trap 'kill -- -"$images_pid" 2>/dev/null || true; rm -f "$built"' EXIT
images_done() {
  wait "$images_pid" || { echo "ci/images/build.sh failed (above)" >&2; exit 1; }
  mapfile -t images <"$built"
  say "images"
  printf '    %s\n' "${images[@]}" >&2
  # the images these replaced, if any (podman keeps superseded builds until pruned)
  bash ci/images/prune.sh || echo "warning: ci/images/prune.sh failed" >&2
}

if [ -n "${KUBECONFIG:-}" ] && [ "$KUBECONFIG" != "$FAQ_CACHE/cluster/kubeconfig" ] \
   && kubectl get --raw /readyz --request-timeout=5s >/dev/null 2>&1; then
  FAQ_CLUSTER=existing bash ci/cluster/up.sh >/dev/null
  images_done
  echo "    using the configured cluster ($(kubectl config current-context)); push the images" \
       "above to a registry it can pull from (REGISTRY=... ci/images/push.sh IMAGE...) and" \
       "set image.repository / model.repository" >&2
  sets=()
else
  export KUBECONFIG
  KUBECONFIG=$(phase cluster --cache "k8s/$KUBERNETES_VERSION/bin/kubelet" -- bash ci/cluster/up.sh)
  # NODES=N (make up NODES=2): nodes 2..N beside the first (ci/cluster/node.sh), so the pods
  # spread over them; nodes past N from an earlier run are removed. Without NODES the nodes added
  # earlier stay as they are: a `make up` never takes away a node that a test, or a user's
  # `node.sh add`, is using.
  added=$(bash ci/cluster/node.sh list | tr '\n' ' ')
  if [ -n "${NODES:-}" ]; then
    [[ "$NODES" =~ ^[1-9]$ ]] || { echo "NODES=$NODES: give a number of nodes from 1 to 9" >&2; exit 2; }
    for n in $added; do
      [ "$n" -le "$NODES" ] || bash ci/cluster/node.sh remove "$n"
    done
    for ((n = 2; n <= NODES; n++)); do
      phase "node-$n" -- bash ci/cluster/node.sh add "$n" >/dev/null
    done
  elif [ -n "$added" ]; then
    say "keeping node(s) ${added% } added earlier (make up NODES=1 removes them)"
  fi
  images_done
  say "pushing the images to the local registry ($LOCAL_REGISTRY)"
  pushed_list=$(mktemp)
  phase push -- bash ci/images/push.sh "${images[@]}" >"$pushed_list"
  mapfile -t pushed <"$pushed_list"
  rm -f "$pushed_list"
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
  # The chart as users get it: packaged, signed with the local key (ci/chart-key.sh) and pushed
  # with its provenance (ci/release chart), so `helm show chart` / `helm install --verify` of
  # oci://$LOCAL_REGISTRY/charts/faq-engine answer.
  say "pushing the chart to oci://$LOCAL_REGISTRY/charts (signed)"
  FAQ_RELEASE_ENV=1 REGISTRY=$LOCAL_REGISTRY bash ci/release chart | sed 's/^/    /' >&2
fi

say "helm upgrade --install $RELEASE ./chart (namespace $NAMESPACE)"
kubectl create namespace "$NAMESPACE" --dry-run=client -o yaml \
  | kubectl label --local -f - pod-security.kubernetes.io/enforce=restricted -o yaml \
  | kubectl apply -f - >/dev/null
phase install -- helm upgrade --install "$RELEASE" ./chart --namespace "$NAMESPACE" --wait \
  --timeout 5m -f chart/ci/local-images.yaml "${sets[@]}" "$@"

say "helm test $RELEASE"
phase helm-test -- helm test "$RELEASE" --namespace "$NAMESPACE" --logs --timeout 3m

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
