#!/usr/bin/env bash
# The local loop's chart signing key: an OpenPGP key made once for this machine (no passphrase;
# never a release key), in $FAQ_CACHE/chart-key, outside the repository. Helm reads keyrings in
# the legacy format, so the secret key is exported to secring.gpg and the public one to
# pubring.gpg (what `helm install --verify --keyring` and `helm verify` take).
# Prints `name<TAB>secring<TAB>pubring` (the key's name as `helm package --sign --key` wants it).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=versions.env
. "$root/ci/versions.env"
dir=${CHART_KEY_DIR:-$FAQ_CACHE/chart-key}
name="faq-engine chart (local test key)"
if [ ! -s "$dir/secring.gpg" ] || [ ! -s "$dir/pubring.gpg" ]; then
  command -v gpg >/dev/null || { echo "chart-key.sh: gpg is missing (ci/setup-host.sh installs gnupg)" >&2; exit 1; }
  rm -rf "$dir.tmp"
  mkdir -p "$dir.tmp"
  # A short GNUPGHOME: gpg-agent's socket lives there, and a Unix socket path has at most 107
  # bytes (a deep $dir, such as a test's temporary directory, would make gpg fail).
  GNUPGHOME=$(mktemp -d "${TMPDIR:-/tmp}/faq-gpg.XXXXXX")
  export GNUPGHOME
  trap 'gpgconf --kill all 2>/dev/null || true; rm -rf "$GNUPGHOME"' EXIT
  gpg --batch --quiet --pinentry-mode loopback --passphrase '' \
    --quick-generate-key "$name <chart@faq-engine.local>" rsa3072 sign never 2>"$dir.tmp/gpg.log" \
    || { cat "$dir.tmp/gpg.log" >&2; echo "chart-key.sh: gpg could not make the key (above)" >&2; exit 1; }
  gpg --batch --export-secret-keys >"$dir.tmp/secring.gpg"
  gpg --batch --export >"$dir.tmp/pubring.gpg"
  gpg --batch --armor --export >"$dir.tmp/public.asc"
  rm -f "$dir.tmp/gpg.log"
  rm -rf "$dir"
  mv "$dir.tmp" "$dir"
fi
printf '%s\t%s\t%s\n' "$name" "$dir/secring.gpg" "$dir/pubring.gpg"
