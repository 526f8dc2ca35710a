#!/usr/bin/env bash
# Print "<service name> <clusterIP>:<port>" of a release's HTTP Service:
#   ci/service-address.sh RELEASE NAMESPACE
# The chart names the Service after its fullname (release and chart name, or fullnameOverride),
# not after the release: it is found by the release's labels and its port named "http".
set -euo pipefail
release=$1 namespace=$2
name=$(kubectl get svc -n "$namespace" \
  -l "app.kubernetes.io/instance=$release,app.kubernetes.io/managed-by=Helm" \
  -o jsonpath='{range .items[?(@.spec.ports[0].name=="http")]}{.metadata.name}{"\n"}{end}' \
  | head -n1)
if [ -z "$name" ]; then
  echo "no Service with an http port for release $release in namespace $namespace" >&2
  exit 1
fi
kubectl get svc "$name" -n "$namespace" \
  -o jsonpath='{.metadata.name} {.spec.clusterIP}:{.spec.ports[?(@.name=="http")].port}{"\n"}'
