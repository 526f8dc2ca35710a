#!/bin/sh
# model-copy: put the model held by this image into a shared volume, verified and atomically.
#
# It copies $MODEL_SOURCE (default /model) to $MODEL_TARGET/<version> (default /models), where
# <version> comes from the manifest, then points $MODEL_LINK (default $MODEL_TARGET/current) at
# it. The source is read once (busybox cat, with sendfile); each copy is then hashed as it landed
# on the volume, from the page cache. Files are spread over $MODEL_COPY_JOBS parallel lanes
# (default: the number of CPUs), largest first, so both hashing and copying use every core.
#
# A reader never sees a partial model: the copy goes to a staging directory that is renamed into
# place in one step after every size and checksum matched, and the link is replaced by a rename.
# A version already on the volume with a completion stamp matching this manifest is a cache hit
# (no copy); MODEL_FORCE_VERIFY=1 re-checks it and repairs it if it does not match. Versions
# beyond the newest $MODEL_KEEP (default 3) are removed. Several pods may run this at once
# against one volume: each stages privately and only one rename wins.
#
# POSIX sh with busybox tools only. Exit 0 on success; otherwise 1 with one line
# "model-copy: error: <cause>" naming the file.
set -eu

SRC=${MODEL_SOURCE:-/model}
TARGET=${MODEL_TARGET:-/models}
LINK=${MODEL_LINK:-$TARGET/current}
KEEP=${MODEL_KEEP:-3}
FORCE=${MODEL_FORCE_VERIFY:-0}
JOBS=${MODEL_COPY_JOBS:-$(nproc 2>/dev/null || echo 2)}
STAMP=.complete

say() { echo "model-copy: $*"; }
die() { echo "model-copy: error: $*" >&2; exit 1; }
now() { read -r up _ < /proc/uptime && echo "$up"; }
START=$(now)

case $KEEP in ''|*[!0-9]*) die "MODEL_KEEP must be a whole number, got '$KEEP'";; esac
case $JOBS in ''|*[!0-9]*|0) JOBS=2;; esac
[ "$KEEP" -ge 1 ] || KEEP=1

# --- the manifest -----------------------------------------------------------------------
# The trainer writes a canonical layout: one '"version": "V",' line, one file entry a line.
MANIFEST=$SRC/manifest.json
[ -f "$MANIFEST" ] || die "$MANIFEST: manifest missing"
[ -r "$MANIFEST" ] || die "$MANIFEST: manifest not readable"
grep -q '^  "format": 1,$' "$MANIFEST" || die "$MANIFEST: malformed manifest (no \"format\": 1)"
VERSION=$(sed -n 's/^  "version": "\([A-Za-z0-9][A-Za-z0-9._-]*\)",$/\1/p' "$MANIFEST")
case $VERSION in
  ''|*'
'*) die "$MANIFEST: malformed manifest (no single valid \"version\")";;
esac
FILES=$(sed -n 's/^    {"path": "\([A-Za-z0-9][A-Za-z0-9._-]*\)", "size": \([0-9][0-9]*\), "sha256": "\([0-9a-f]\{64\}\)"},\{0,1\}$/\1 \2 \3/p' "$MANIFEST")
listed=$(grep -c '"path":' "$MANIFEST" || true)
parsed=$(printf '%s\n' "$FILES" | grep -c . || true)
[ "$parsed" -gt 0 ] || die "$MANIFEST: malformed manifest (no file entries)"
[ "$parsed" = "$listed" ] || die "$MANIFEST: malformed manifest ($listed file entries, $parsed well-formed)"
MSUM=$(sha256sum "$MANIFEST" | cut -d' ' -f1)
TOTAL=$(printf '%s\n' "$FILES" | awk '{s += $2} END {printf "%d", s}')

# --- the target -------------------------------------------------------------------------
[ -d "$TARGET" ] || die "$TARGET: target directory does not exist"
DEST=$TARGET/$VERSION
TMPNAME=$(hostname 2>/dev/null || echo pod)-$$
STAGE=$TARGET/.staging-$VERSION-$TMPNAME
cleanup() { [ -z "${STAGE:-}" ] || rm -rf "$STAGE" 2>/dev/null || true; }
trap cleanup EXIT
trap 'exit 1' INT TERM

stamp_ok() { [ -f "$1/$STAMP" ] && [ "$(cat "$1/$STAMP" 2>/dev/null)" = "$MSUM" ]; }

# Check (and with $2 a directory, also write) every file: size, then sha256 of the one read.
# Lanes are filled largest file first onto the emptiest lane; each lane runs in background.
check_files() { # from-dir [to-dir]
  from=$1 to=${2:-}
  lanes=$(printf '%s\n' "$FILES" | sort -k2,2nr | awk -v j="$JOBS" '
    { best = 0; for (i = 1; i < j; i++) if (load[i] < load[best]) best = i
      load[best] += $2; print best, $0 }')
  pids=
  i=0
  while [ "$i" -lt "$JOBS" ]; do
    printf '%s\n' "$lanes" | awk -v l="$i" '$1 == l {print $2, $3, $4}' > "$WORK/lane.$i"
    check_lane "$from" "$to" "$WORK/lane.$i" "$WORK/fail.$i" &
    pids="$pids $!"
    i=$((i + 1))
  done
  rc=0
  for p in $pids; do wait "$p" || rc=1; done
  if [ "$rc" -ne 0 ]; then
    cat "$WORK"/fail.* 2>/dev/null | head -n 1
    return 1
  fi
}

check_lane() { # from to list failfile
  while read -r name size sum; do
    src=$1/$name
    [ -f "$src" ] || { echo "$src: missing file" > "$4"; return 1; }
    have=$(stat -c %s "$src")
    [ "$have" = "$size" ] || { echo "$name: size mismatch (file $have bytes, manifest $size)" > "$4"; return 1; }
    if [ -n "$2" ]; then
      # busybox cat copies with sendfile; the hash is then taken of the bytes as they landed
      # on the volume (from the page cache), so what is verified is what the app will read.
      if ! cat "$src" > "$2/$name" 2> "$3.err"; then
        if grep -qi "no space" "$3.err"; then
          echo "$2/$name: disk full while copying ($TOTAL bytes needed)" > "$4"
        else
          echo "$2/$name: cannot write: $(head -n 1 "$3.err")" > "$4"
        fi
        return 1
      fi
      got=$(sha256sum < "$2/$name" | cut -d' ' -f1)
    else
      got=$(sha256sum < "$src" | cut -d' ' -f1)
    fi
    [ "$got" = "$sum" ] || { echo "$name: checksum mismatch (sha256 $got, manifest $sum)" > "$4"; return 1; }
  done < "$3"
}

switch_link() {
  mkdir -p "$(dirname "$LINK")" 2>/dev/null || die "$LINK: cannot create its directory"
  ln -s "$DEST" "$LINK.tmp.$TMPNAME" 2>/dev/null || die "$LINK: cannot write the link (target not writable?)"
  mv -fT "$LINK.tmp.$TMPNAME" "$LINK" || die "$LINK: cannot switch the link"
}

prune() {
  # Newest first by modification time (a cache hit touches its version); keep $KEEP and ours.
  n=0
  for d in $(ls -1t "$TARGET" 2>/dev/null); do
    [ -d "$TARGET/$d" ] && [ ! -L "$TARGET/$d" ] || continue
    stamp_any=$TARGET/$d/$STAMP
    [ -f "$stamp_any" ] || continue
    n=$((n + 1))
    if [ "$d" != "$VERSION" ] && [ "$n" -gt "$KEEP" ]; then
      old=$TARGET/.trash-$d-$TMPNAME
      if mv -T "$TARGET/$d" "$old" 2>/dev/null; then
        chmod -R u+w "$old" 2>/dev/null || true
        rm -rf "$old" && say "pruned version $d"
      fi
    fi
  done
  # Staging left behind by a pod that died mid-copy (a live copy touches its files).
  find "$TARGET" -maxdepth 1 -name '.staging-*' -mmin +120 -exec rm -rf {} + 2>/dev/null || true
}

elapsed() { awk -v a="$START" -v b="$(now)" 'BEGIN {printf "%.2f", b - a}'; }

# --- cache hit? --------------------------------------------------------------------------
if stamp_ok "$DEST"; then
  if [ "$FORCE" = 1 ]; then
    WORK=$(mktemp -d "$TARGET/.verify-$TMPNAME.XXXXXX" 2>/dev/null) || WORK=$(mktemp -d)
    if why=$(check_files "$DEST"); then
      rm -rf "$WORK"
      touch "$DEST" 2>/dev/null || true
      switch_link
      prune
      say "version=$VERSION cache-hit verified files=$parsed bytes=$TOTAL seconds=$(elapsed) target=$DEST"
      exit 0
    fi
    rm -rf "$WORK"
    say "version=$VERSION on the volume failed verification ($why); copying it again"
  else
    touch "$DEST" 2>/dev/null || true
    switch_link
    prune
    say "version=$VERSION cache-hit files=$parsed bytes=$TOTAL seconds=$(elapsed) target=$DEST"
    exit 0
  fi
fi

# --- copy ----------------------------------------------------------------------------------
[ -w "$TARGET" ] || die "$TARGET: target not writable"
mkdir "$STAGE" 2>/dev/null || die "$TARGET: target not writable (cannot create $STAGE)"
avail=$(df -Pk "$TARGET" | awk 'NR == 2 {print $4}')
need=$(( (TOTAL + 1023) / 1024 ))
[ -z "$avail" ] || [ "$avail" -ge "$need" ] || die "$TARGET: disk full: need ${need} KiB, ${avail} KiB free"
WORK=$STAGE/.work
mkdir "$WORK"
if ! why=$(check_files "$SRC" "$STAGE"); then
  die "${why:-copy failed}"
fi
rm -rf "$WORK"
cp "$MANIFEST" "$STAGE/manifest.json" || die "$STAGE/manifest.json: cannot write"
for f in "$STAGE"/*; do chmod 0444 "$f"; done
echo "$MSUM" > "$STAGE/$STAMP.tmp" && mv -f "$STAGE/$STAMP.tmp" "$STAGE/$STAMP" || die "$STAGE: cannot write the stamp"

if ! mv -T "$STAGE" "$DEST" 2>/dev/null; then
  if stamp_ok "$DEST" && [ "$FORCE" != 1 ]; then
    # Another pod finished the same version first: use theirs.
    rm -rf "$STAGE"
    say "version=$VERSION finished by another pod, using it"
  else
    # A different build of the same version (or one that failed re-verification): replace it.
    old=$TARGET/.trash-$VERSION-$TMPNAME
    mv -T "$DEST" "$old" && mv -T "$STAGE" "$DEST" || die "$DEST: cannot replace the existing version"
    chmod -R u+w "$old" 2>/dev/null; rm -rf "$old"
  fi
fi
STAGE=
switch_link
prune
say "version=$VERSION copied files=$parsed bytes=$TOTAL seconds=$(elapsed) target=$DEST"
