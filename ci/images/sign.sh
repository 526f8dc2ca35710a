#!/usr/bin/env bash
# Sign pushed images by digest (cosign) and attach each one's SBOM (syft, SPDX JSON) to it as a
# signed attestation (in-toto, predicate type https://spdx.dev/Document, `cosign attest --type
# spdxjson`). Both go into the image's own repository, beside it, so they move with the image.
#
# In cosign's tag layout (`sha256-<digest>.sig`, `.att`), not cosign v3's default of Sigstore
# bundles as OCI referrers: ghcr.io and CNCF Distribution (the local registry) have no referrers
# API, so the bundles land in a fallback tag that admission controllers do not all read yet,
# while cosign v2 and v3, sigstore policy-controller and Kyverno's Cosign verifier all read the
# tag layout (docs/releasing.md). `--new-bundle-format=false` is deprecated in v3; ci/versions.env holds
# cosign to v3.
#
#   ci/images/sign.sh 127.0.0.1:5001/faq-engine:1.0.0@sha256:...   (what ci/images/push.sh prints)
#
# Prints, for each image, the path of its SBOM (SPDX JSON, kept under $SBOM_DIR) on stdout; the
# seconds of each step go to stderr. ci/release calls it after the push, for the one image it
# released. The cosign and syft of ci/versions.env come from ci/go-tools.sh (test and release
# tools, not `make up`'s).
#
# Settings (environment):
#   IMAGE_SIGNING      key (default): sign with IMAGE_SIGNING_KEY; nothing leaves this machine
#                      but the registry pushes (no transparency log, no Sigstore services);
#                      keyless: Sigstore keyless signing (a short-lived Fulcio certificate for
#                      the OIDC identity of the run, the signature logged in Rekor): what the
#                      release workflow uses on GitHub (id-token: write)
#   IMAGE_SIGNING_KEY  a cosign private key (cosign's encrypted PEM, or a KMS URI cosign takes);
#                      default: the local loop's key $FAQ_CACHE/keys/image-signing.key, made with
#                      `cosign generate-key-pair` on first use (empty password), its public half
#                      image-signing.pub beside it (what `cosign verify --key` takes)
#   COSIGN_PASSWORD    IMAGE_SIGNING_KEY's password (cosign's own variable; empty when unset)
#   SBOM_DIR           where the SBOMs are written (default $FAQ_CACHE/sboms)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=../versions.env
. "$root/ci/versions.env"
[ $# -ge 1 ] || { echo "usage: sign.sh REPOSITORY[:TAG]@sha256:DIGEST..." >&2; exit 2; }
IMAGE_SIGNING=${IMAGE_SIGNING:-key}
SBOM_DIR=${SBOM_DIR:-$FAQ_CACHE/sboms}
say() { printf 'sign.sh: %s\n' "$*" >&2; }
# Arguments and settings first, before any tool is built.
case "$IMAGE_SIGNING" in
  key) ;;
  keyless) [ -n "${GITHUB_WORKFLOW_REF:-}" ] \
    || { say "IMAGE_SIGNING=keyless runs on GitHub Actions (GITHUB_WORKFLOW_REF is unset)"; exit 2; } ;;
  *) say "IMAGE_SIGNING must be key or keyless, not '$IMAGE_SIGNING'"; exit 2 ;;
esac
for ref in "$@"; do
  [[ "$ref" =~ ^.+@sha256:[0-9a-f]{64}$ ]] || { say "not a REPOSITORY[:TAG]@sha256:DIGEST: $ref"; exit 2; }
done
bin=$(bash "$root/ci/go-tools.sh" cosign syft)
cosign=$bin/cosign syft=$bin/syft
# timed LABEL CMD...: run CMD (its stdout to stderr), then say LABEL and its seconds
timed() {
  local label=$1 start=$EPOCHREALTIME
  shift
  "$@" >&2 || { say "$label failed"; return 1; }
  awk -v l="$label" -v s="$start" -v e="$EPOCHREALTIME" 'BEGIN { printf "sign.sh: %s in %.2fs\n", l, e - s }' >&2
}

quiet() { "$@" >/dev/null; }
# The tag layout (above); it takes no TUF signing config (which would pick the services).
sign=(--new-bundle-format=false --use-signing-config=false) verify=()
case "$IMAGE_SIGNING" in
  key)
    if [ -z "${IMAGE_SIGNING_KEY:-}" ]; then
      IMAGE_SIGNING_KEY=$FAQ_CACHE/keys/image-signing.key
      if [ ! -f "$IMAGE_SIGNING_KEY" ]; then
        say "making the local image signing key $IMAGE_SIGNING_KEY"
        mkdir -p "$FAQ_CACHE/keys"
        tmp=$(mktemp -d "$FAQ_CACHE/keys/.new.XXXXXX")
        (cd "$tmp" && umask 077 && COSIGN_PASSWORD='' "$cosign" generate-key-pair \
          --output-key-prefix image-signing >/dev/null 2>&1)
        chmod 644 "$tmp/image-signing.pub"
        mv "$tmp/image-signing.pub" "$FAQ_CACHE/keys/image-signing.pub"
        mv "$tmp/image-signing.key" "$IMAGE_SIGNING_KEY"
        rmdir "$tmp"
      fi
    fi
    export COSIGN_PASSWORD=${COSIGN_PASSWORD:-}
    # No transparency log upload: verified with the public key alone.
    sign+=(--key "$IMAGE_SIGNING_KEY" --tlog-upload=false)
    # The self-check after signing: the public half beside a .key file, or a KMS key itself.
    case "$IMAGE_SIGNING_KEY" in
      *://*) verify=(--key "$IMAGE_SIGNING_KEY" --insecure-ignore-tlog=true) ;;
      *.key) [ ! -f "${IMAGE_SIGNING_KEY%.key}.pub" ] \
               || verify=(--key "${IMAGE_SIGNING_KEY%.key}.pub" --insecure-ignore-tlog=true) ;;
    esac ;;
  keyless)
    # The identity is the workflow file at the tag: https://github.com/OWNER/REPO/.github/
    # workflows/release.yaml@refs/tags/..., issued by GitHub's OIDC provider.
    # Fulcio and Rekor: cosign's defaults, the public Sigstore instance.
    verify=(--certificate-identity "${GITHUB_SERVER_URL:-https://github.com}/$GITHUB_WORKFLOW_REF"
            --certificate-oidc-issuer https://token.actions.githubusercontent.com) ;;
esac

mkdir -p "$SBOM_DIR"
for ref in "$@"; do
  [[ "$ref" =~ ^(.+)@(sha256:[0-9a-f]{64})$ ]]
  digest=${BASH_REMATCH[2]}
  repository=${BASH_REMATCH[1]}
  last=${repository##*/}
  [[ "$last" != *:* ]] || repository=${repository%:*} # the tag is not signed: the digest is
  target=$repository@$digest
  registry=()
  case "$repository" in
    127.0.0.1:* | localhost:* | "[::1]":*) # the local registries are plain HTTP on loopback
      registry=(--allow-insecure-registry --allow-http-registry)
      export SYFT_REGISTRY_INSECURE_USE_HTTP=true ;;
  esac
  sbom=$SBOM_DIR/${last%%:*}-${digest#sha256:}.spdx.json
  # The SBOM of exactly the pushed manifest, read back from the registry by digest. Packages,
  # not every file they own: with those the app's is about five times larger, more than the
  # public Rekor takes for a keyless attestation (docs/benchmarks.md).
  timed "SBOM of $target ($(basename "$sbom"))" env SYFT_CHECK_FOR_APP_UPDATE=false \
    SYFT_FILE_METADATA_SELECTION=none SYFT_RELATIONSHIPS_PACKAGE_FILE_OWNERSHIP=false \
    "$syft" scan "registry:$target" --quiet -o "spdx-json=$sbom"
  timed "signed $target" "$cosign" sign --yes "${registry[@]}" "${sign[@]}" "$target"
  timed "attested the SBOM of $target" "$cosign" attest --yes "${registry[@]}" "${sign[@]}" \
    --type spdxjson --predicate "$sbom" "$target"
  if [ ${#verify[@]} -gt 0 ]; then
    timed "verified $target" quiet "$cosign" verify "${registry[@]}" "${verify[@]}" "$target"
  fi
  echo "$sbom"
done
