#!/bin/sh
# model-copy: put the model held by this image into a shared volume, verified and atomically.
#
# It copies $MODEL_SOURCE (default /model) to $MODEL_TARGET/<version> (default /models), where
# <version> is the model's VERSION file, then points $MODEL_LINK (default $MODEL_TARGET/current)
# at it. What is checked is the model's SHA256SUMS (written by `faq-engine train`, which also
# checks it against the manifest): `sha256sum -c` runs on every copy as it landed on the
# volume. Of the manifest it reads only the version and each file's path and sha256, and checks
# they agree with VERSION and SHA256SUMS whatever its format, so a new manifest format needs no
# new entrypoint; the app decides which formats it reads. A signature ($SIG_NAME) travels along,
# unchecked here: the app checks it. Files are spread over $MODEL_COPY_JOBS parallel lanes
# (default: the number of CPUs), largest first.
#
# A reader never sees a partial model: the copy goes to a private staging directory that is
# renamed into place in one step after every checksum matched, and the link is replaced by a
# rename. A version already on the volume with a completion stamp matching this manifest is a
# cache hit (no copy); MODEL_FORCE_VERIFY=1 re-checks it and repairs it if it does not match.
#
# Sharing a volume (a PVC used by several pods, stable and canary): every pod holds a lease on
# the version it uses, $MODEL_TARGET/.leases/<version>/<pod name>, written here before the
# version is used and refreshed by `model-copy hold` (the chart runs it as a sidecar for the
# pod's lifetime; it removes the lease when the pod stops). Versions beyond the newest
# $MODEL_KEEP (default 3) are pruned unless a lease younger than $MODEL_LEASE_TTL seconds
# (default 600) names them, or the link points at them. Switching the link and pruning happen
# under one lock (a directory, $MODEL_TARGET/.lock), so concurrent runs never leave the link
# pointing at a pruned version.
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
TTL=${MODEL_LEASE_TTL:-600}
REFRESH=${MODEL_LEASE_REFRESH:-60}
HOST=${HOSTNAME:-$(hostname 2>/dev/null || echo pod)}
MODE=${1:-copy}
# Names shared with faq_engine/modeldir.py (tests/images/test_model_copy.py checks they agree).
SUMS_NAME=SHA256SUMS
VERSION_NAME=VERSION
MANIFEST_NAME=manifest.json
STAMP=.complete
# The model's signature, if it has one: copied along unchecked (it covers SHA256SUMS and the
# manifest; the app checks it when it is given a public key).
SIG_NAME=model.sig

say() { echo "model-copy: $*"; }
die() { echo "model-copy: error: $*" >&2; exit 1; }
now() { read -r up _ < /proc/uptime && echo "$up"; }
START=$(now)

case $MODE in copy|hold) ;; *) die "unknown mode '$MODE' (copy or hold)";; esac
case $KEEP in ''|*[!0-9]*) die "MODEL_KEEP must be a whole number, got '$KEEP'";; esac
case $TTL in ''|*[!0-9]*) die "MODEL_LEASE_TTL must be a whole number of seconds, got '$TTL'";; esac
case $REFRESH in ''|*[!0-9]*|0) die "MODEL_LEASE_REFRESH must be a positive number of seconds, got '$REFRESH'";; esac
case $JOBS in ''|*[!0-9]*|0) JOBS=2;; esac
case $HOST in ''|.*|*/*|*[!A-Za-z0-9._-]*) die "HOSTNAME '$HOST' is not a usable pod name";; esac
[ "$KEEP" -ge 1 ] || KEEP=1

# --- what the image holds ---------------------------------------------------------------------
SUMS=$SRC/$SUMS_NAME
[ -f "$SRC/$MANIFEST_NAME" ] || die "$SRC/$MANIFEST_NAME: manifest missing"
[ -f "$SUMS" ] || die "$SUMS: checksum list missing (faq-engine train writes one: retrain the model)"
[ -r "$SUMS" ] || die "$SUMS: not readable"
# Each line "<sha256>  <name>" (sha256sum's own format), a plain name, each name once.
badline=$(grep -nv '^[0-9a-f]\{64\}  [A-Za-z0-9][A-Za-z0-9._-]*$' "$SUMS" | head -n 1 | cut -d: -f1)
[ -z "$badline" ] || die "$SUMS: malformed line $badline (want '<sha256>  <file name>')"
NAMES=$(cut -c67- "$SUMS")
[ -n "$NAMES" ] || die "$SUMS: lists no file"
dup=$(printf '%s\n' "$NAMES" | sort | uniq -d | head -n 1)
[ -z "$dup" ] || die "$SUMS: lists $dup twice"
for n in "$MANIFEST_NAME" "$VERSION_NAME"; do
  printf '%s\n' "$NAMES" | grep -qx "$n" || die "$SUMS: does not list $n"
done
for n in $NAMES; do
  [ -f "$SRC/$n" ] && [ ! -L "$SRC/$n" ] || die "$SRC/$n: missing file"
done
# The version names a directory on the volume: check its file before trusting its content.
want=$(awk -v n="$VERSION_NAME" 'substr($0, 67) == n {print substr($0, 1, 64)}' "$SUMS")
[ "$(sha256sum < "$SRC/$VERSION_NAME" | cut -d' ' -f1)" = "$want" ] \
  || die "$VERSION_NAME: checksum mismatch ($SUMS_NAME)"
VERSION=$(cat "$SRC/$VERSION_NAME")
# faq_engine/modeldir.py's SAFE_VERSION (tests/images/test_version_grammar.py checks they agree).
case $VERSION in
  ''|[!A-Za-z0-9]*|*[!A-Za-z0-9._-]*) die "$SRC/$VERSION_NAME: bad version '$VERSION'";;
esac
[ "${#VERSION}" -le 64 ] || die "$SRC/$VERSION_NAME: version longer than 64 characters"
# The link may live in the target: a version must never take its name.
[ "$TARGET/$VERSION" != "$LINK" ] || die "$SRC/$VERSION_NAME: version '$VERSION' is the name of the link $LINK"
MSUM=$(sha256sum < "$SRC/$MANIFEST_NAME" | cut -d' ' -f1)
[ "$MSUM" = "$(awk -v n="$MANIFEST_NAME" 'substr($0, 67) == n {print substr($0, 1, 64)}' "$SUMS")" ] \
  || die "$MANIFEST_NAME: checksum mismatch ($SUMS_NAME)"
# Whatever its format says, the manifest must describe what SHA256SUMS and VERSION do: the same
# files with the same checksums, and the same version (the app serves and labels the
# manifest's). A minimal JSON reader (busybox has no other): it prints "V <version>" and
# "F <path> <sha256>" a file, and refuses what it cannot read unambiguously.
MANIFEST_AWK='
function fail(m) { print "E " m; bad = 1; exit 1 }
function ws() { while (pos <= n && index(" \t\r\n", substr(s, pos, 1))) pos++ }
function str(   c, out) {
  pos++; out = ""; esc = 0
  for (;;) {
    if (pos > n) fail("unterminated string")
    c = substr(s, pos, 1)
    if (c == "\"") { pos++; return out }
    if (c == "\\") { esc = 1; out = out c substr(s, pos + 1, 1); pos += 2; continue }
    out = out c; pos++
  }
}
function value(depth, ctx,   c, k, kesc, sub_ctx, v) {
  if (depth > 64) fail("nested too deep")
  ws(); c = substr(s, pos, 1)
  if (ctx == "files" && c != "[") fail("files is not a list")
  if (ctx == "file" && c != "{") fail("a file entry is not an object")
  if (c == "{") {
    pos++; ws()
    if (substr(s, pos, 1) == "}") { pos++; return }
    for (;;) {
      ws(); if (substr(s, pos, 1) != "\"") fail("a key expected at byte " pos)
      k = str(); kesc = esc; ws()
      if (substr(s, pos, 1) != ":") fail("\":\" expected at byte " pos)
      pos++; sub_ctx = ""
      if ((depth == 0 || ctx == "file") && kesc) fail("an escaped key")
      if (depth == 0 && (k == "version" || k == "files")) {
        if (top[k]++) fail("two \"" k "\" keys"); sub_ctx = k
      }
      if (ctx == "file" && (k == "path" || k == "sha256")) {
        if (seen[nf, k]++) fail("two \"" k "\" keys in a file entry"); sub_ctx = "f" k
      }
      value(depth + 1, sub_ctx)
      ws(); c = substr(s, pos, 1); pos++
      if (c == "}") return
      if (c != ",") fail("\",\" or \"}\" expected at byte " (pos - 1))
    }
  }
  if (c == "[") {
    pos++; ws()
    if (substr(s, pos, 1) == "]") { pos++; return }
    for (;;) {
      if (ctx == "files") { nf++; value(depth + 1, "file") } else value(depth + 1, "")
      ws(); c = substr(s, pos, 1); pos++
      if (c == "]") return
      if (c != ",") fail("\",\" or \"]\" expected at byte " (pos - 1))
    }
  }
  if (c == "\"") {
    v = str()
    if (ctx != "" && esc) fail("an escape in " ctx)
    if (ctx == "version") version = v
    else if (ctx == "fpath") path[nf] = v
    else if (ctx == "fsha256") sum[nf] = v
    else if (ctx != "") fail(ctx " is not a string")
    return
  }
  if (ctx != "") fail(ctx " is not a string")
  if (!match(substr(s, pos), /^(-?[0-9][0-9.eE+-]*|true|false|null)/)) fail("bad value at byte " pos)
  pos += RLENGTH
}
{ s = s $0 "\n" }
END {
  if (bad) exit 1
  n = length(s); pos = 1; nf = 0
  ws(); if (substr(s, pos, 1) != "{") fail("not a JSON object")
  value(0, ""); ws()
  if (pos <= n) fail("trailing data at byte " pos)
  if (!top["version"]) fail("no version")
  if (!top["files"]) fail("no files")
  print "V " version
  for (i = 1; i <= nf; i++) {
    if (!(i in path) || !(i in sum)) fail("file entry " i " lacks path or sha256")
    print "F " path[i] " " sum[i]
  }
}'
parsed=$(awk "$MANIFEST_AWK" "$SRC/$MANIFEST_NAME") \
  || die "$SRC/$MANIFEST_NAME: unreadable ($(printf '%s\n' "$parsed" | sed -n 's/^E //p' | head -n 1))"
mversion=$(printf '%s\n' "$parsed" | sed -n 's/^V //p')
[ "$VERSION" = "$mversion" ] \
  || die "$SRC/$VERSION_NAME: version '$VERSION' is not the manifest's '$mversion'"
differs=$( { printf '%s\n' "$parsed" | awk '$1 == "F" {print $3 "  " $2}'
             echo "$MSUM  $MANIFEST_NAME"; } | awk -v m="$MANIFEST_NAME" -v c="$SUMS_NAME" '
  NR == FNR { want[$2] = $1; next }
  { name = substr($0, 67); got[name] = 1
    if (!(name in want)) { if (!bad) print name ": not listed in " m " (but in " c ")"; bad = 1 }
    else if (want[name] != substr($0, 1, 64)) {
      if (!bad) print name ": sha256 differs between " m " and " c; bad = 1 } }
  END { if (!bad) for (k in want) if (!(k in got)) { print k ": not listed in " c " (but in " m ")"; exit } }
' - "$SUMS")
[ -z "$differs" ] || die "$differs"
TOTAL=0
for n in $NAMES; do TOTAL=$((TOTAL + $(stat -c %s "$SRC/$n"))); done
COUNT=$(printf '%s\n' "$NAMES" | grep -c .)

# --- the target -------------------------------------------------------------------------------
[ -d "$TARGET" ] || die "$TARGET: target directory does not exist"
DEST=$TARGET/$VERSION
if [ -e "$LINK" ] && [ ! -L "$LINK" ]; then
  die "$LINK: exists and is not a symlink (remove it; model-copy owns that name)"
fi
LEASES=$TARGET/.leases
LOCK=$TARGET/.lock
STAGE=
TRASH=
LOCKED=
cleanup() {
  [ -z "$LOCKED" ] || rm -rf "$LOCK" 2>/dev/null || true
  [ -z "$STAGE" ] || rm -rf "$STAGE" 2>/dev/null || true
  [ -z "$TRASH" ] || rm -rf "$TRASH" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 1' INT TERM

stamp_ok() { [ -f "$1/$STAMP" ] && [ "$(cat "$1/$STAMP" 2>/dev/null)" = "$MSUM" ]; }

# Ages are measured on the volume's own clock, never this pod's: a shared volume serves pods on
# nodes whose clocks disagree, and every mtime on it is stamped by the volume (on NFS, by the
# server). "Now" is the mtime of a file touched there.
vnow() {
  clock=$TARGET/.clock-$HOST-$$
  touch "$clock" 2>/dev/null && stat -c %Y "$clock" 2>/dev/null && rm -f "$clock" 2>/dev/null \
    || die "$TARGET: cannot read the volume's clock (target not writable?)"
}
age() { # path now: seconds since the path's mtime on the volume's clock (empty if it is gone)
  m=$(stat -c %Y "$1" 2>/dev/null) || return 0
  echo $(($2 - m))
}

# The volume-wide lock: a directory (mkdir is atomic everywhere, busybox has no flock). A lock
# older than 2 minutes is a holder killed with -9 (the locked steps take milliseconds). Taking
# it over is atomic: only the run whose mkdir of <lock>/.break wins breaks that lock, and only
# if it is still the same directory (inode and owner) it found stale; the others wait.
lock() {
  tries=0
  until err=$(mkdir "$LOCK" 2>&1); do
    case $err in
      *'File exists'*) ;;
      *) die "$TARGET: target not writable (${err#mkdir: })";;
    esac
    a=$(age "$LOCK" "$(vnow)")
    if [ -n "$a" ] && [ "$a" -ge 120 ]; then
      id=$(stat -c %i "$LOCK" 2>/dev/null || true) who=$(cat "$LOCK/owner" 2>/dev/null || true)
      if [ -n "$id" ] && mkdir "$LOCK/.break" 2>/dev/null; then
        if [ "$(stat -c %i "$LOCK" 2>/dev/null)" = "$id" ] \
            && [ "$(cat "$LOCK/owner" 2>/dev/null || true)" = "$who" ] \
            && mv -T "$LOCK" "$TARGET/.trash-lock-$HOST-$$" 2>/dev/null; then
          rm -rf "$TARGET/.trash-lock-$HOST-$$" 2>/dev/null || true
          say "removed a stale lock $LOCK (${a}s old, held by ${who:-nobody})"
        else
          rmdir "$LOCK/.break" 2>/dev/null || true
        fi
      else
        b=$(age "$LOCK/.break" "$(vnow)")  # a breaker killed mid-way leaves it behind
        [ -z "$b" ] || [ "$b" -lt 120 ] || rmdir "$LOCK/.break" 2>/dev/null || true
      fi
    fi
    tries=$((tries + 1))
    [ "$tries" -lt 3000 ] || die "$LOCK: still held after 5 minutes"
    sleep 0.1
  done
  LOCKED=1
  # A nonce: a retry of a killed run (same hostname, PID 1) never looks like its lock.
  echo "$HOST $$ $(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')" > "$LOCK/owner" 2>/dev/null || true
}
unlock() { rm -rf "$LOCK"; LOCKED=; }

lease() { # refresh this pod's lease on $VERSION
  mkdir -p "$LEASES/$VERSION" 2>/dev/null && touch "$LEASES/$VERSION/$HOST" 2>/dev/null \
    || die "$LEASES/$VERSION/$HOST: cannot write the lease (target not writable?)"
}

# The names of this model's files, largest first, dealt onto $JOBS lanes (the emptiest next).
lanes() {
  for n in $NAMES; do echo "$(stat -c %s "$SRC/$n") $n"; done | sort -k1,1nr | awk -v j="$JOBS" '
    { best = 0; for (i = 1; i < j; i++) if (load[i] < load[best]) best = i
      load[best] += $1; print best, $2 }'
}

# Copy (with a to-dir) and check every file with `sha256sum -c` where it landed. Prints the
# first failure as "<file>: <cause>" and fails. Nothing is written to the target but the copies
# themselves, so a full disk still gets its message out.
check_files() { # dir-to-check [copy-from]
  dir=$1 from=${2:-}
  all=$(lanes)
  out=$(
    i=0
    while [ "$i" -lt "$JOBS" ]; do
      names=$(printf '%s\n' "$all" | awk -v l="$i" '$1 == l {print $2}')
      [ -z "$names" ] || check_lane "$dir" "$from" "$names" &
      i=$((i + 1))
    done
    wait
  )
  bad=$(printf '%s\n' "$out" | grep -v '^ok$' | grep . | head -n 1 || true)
  [ -z "$bad" ] || { echo "$bad"; return 1; }
}

check_lane() { # dir from names
  for n in $3; do
    if [ -n "$2" ]; then
      # busybox cat copies with sendfile; the hash is then taken of the bytes as they landed.
      if ! err=$(cat "$2/$n" 2>&1 > "$1/$n"); then
        case $err in
          *'No space left'*|*'write error'*) echo "$1/$n: disk full while copying ($TOTAL bytes needed)";;
          *) echo "$1/$n: cannot write: $err";;
        esac
        return 1
      fi
    fi
  done
  lines=$(for n in $3; do awk -v n="$n" 'substr($0, 67) == n' "$SUMS"; done)
  if ! res=$(cd "$1" && printf '%s\n' "$lines" | sha256sum -c - 2>&1); then
    first=$(printf '%s\n' "$res" | sed -n 's/^\([A-Za-z0-9][A-Za-z0-9._-]*\): FAILED.*$/\1/p' | head -n 1)
    if [ -n "$first" ] && [ ! -f "$1/$first" ]; then
      echo "$first: missing file"
    elif [ -n "$first" ]; then
      echo "$first: checksum mismatch ($SUMS_NAME)"
    else
      echo "$1: sha256sum -c failed: $(printf '%s\n' "$res" | head -n 1)"
    fi
    return 1
  fi
  echo ok
}

switch_link() { # under the lock
  dir=$(dirname "$LINK")
  mkdir -p "$dir" 2>/dev/null || die "$LINK: cannot create its directory"
  if [ -e "$LINK" ] && [ ! -L "$LINK" ]; then
    die "$LINK: exists and is not a symlink (remove it; model-copy owns that name)"
  fi
  tmp=$dir/.$(basename "$LINK").tmp.$HOST
  rm -f "$tmp" 2>/dev/null || true  # left by a killed run of this pod
  [ ! -e "$tmp" ] && [ ! -L "$tmp" ] || die "$tmp: in the way of the link (remove it)"
  ln -s "$DEST" "$tmp" 2>/dev/null || die "$LINK: cannot write the link (target not writable?)"
  mv -fT "$tmp" "$LINK" 2>/dev/null || { rm -f "$tmp"; die "$LINK: cannot switch the link"; }
}

fresh_lease() { # version now: true if a lease on it is younger than $TTL seconds
  [ -d "$LEASES/$1" ] || return 1
  for f in "$LEASES/$1"/*; do
    [ -f "$f" ] || continue
    a=$(age "$f" "$2")
    [ -z "$a" ] || [ "$a" -ge "$TTL" ] || return 0
  done
  return 1
}

prune() { # under the lock: keep the newest $KEEP, ours, the link's, and every leased version
  linked=$(readlink "$LINK" 2>/dev/null || true)
  t=$(vnow)
  n=0
  for d in $(ls -1t "$TARGET" 2>/dev/null); do
    [ -d "$TARGET/$d" ] && [ ! -L "$TARGET/$d" ] && [ -f "$TARGET/$d/$STAMP" ] || continue
    n=$((n + 1))
    [ "$n" -gt "$KEEP" ] && [ "$d" != "$VERSION" ] && [ "$linked" != "$TARGET/$d" ] || continue
    if fresh_lease "$d" "$t"; then
      say "kept version $d (leased by a live pod)"
      continue
    fi
    old=$TARGET/.trash-$d-$HOST-$$
    if mv -T "$TARGET/$d" "$old" 2>/dev/null; then
      rm -rf "$LEASES/$d" 2>/dev/null || true
      TRASH="$TRASH $old"
      say "pruned version $d"
    fi
  done
  # Leases nobody refreshed for longer than the TTL (and a minute) count for nothing: drop them.
  for f in "$LEASES"/*/*; do
    a=$(age "$f" "$t")
    [ -z "$a" ] || [ "$a" -le $((TTL + 60)) ] || rm -f "$f" 2>/dev/null || true
  done
  # Staging left behind by a pod that died mid-copy (a live copy touches its files).
  for f in "$TARGET"/.staging-*; do
    a=$(age "$f" "$t")
    [ -z "$a" ] || [ "$a" -le 7200 ] || TRASH="$TRASH $f"
  done
  # Trash of a run killed while deleting it (a pruned or replaced version): nobody needs it,
  # so it goes too, outside the lock like ours.
  for f in "$TARGET"/.trash-*; do
    [ -d "$f" ] && [ ! -L "$f" ] || continue
    case " $TRASH " in *" $f "*) ;; *) TRASH="$TRASH $f";; esac
  done
}

empty_trash() {
  for t in $TRASH; do chmod -R u+w "$t" 2>/dev/null || true; rm -rf "$t" 2>/dev/null || true; done
  TRASH=
}

finish() { # under no lock: lease, link, prune, report
  lock
  lease
  # Our lease kept it since before the copy; only one older than the TTL could lose it.
  stamp_ok "$DEST" || die "$DEST: removed by another pod's prune while in use (copy slower than MODEL_LEASE_TTL=$TTL s?)"
  switch_link
  prune
  unlock
  empty_trash
  say "$1"
  exit 0
}

elapsed() { awk -v a="$START" -v b="$(now)" 'BEGIN {printf "%.2f", b - a}'; }

# --- hold: the sidecar that keeps this pod's lease fresh ----------------------------------------
if [ "$MODE" = hold ]; then
  trap 'rm -f "$LEASES/$VERSION/$HOST" 2>/dev/null; exit 0' INT TERM
  say "holding a lease on version $VERSION as $HOST (every ${REFRESH}s)"
  while :; do
    lease
    sleep "$REFRESH" &
    wait $! || true
  done
fi

# --- cache hit? -------------------------------------------------------------------------------
[ -w "$TARGET" ] || die "$TARGET: target not writable"
# The lease goes first, under the lock: from here on no prune removes $DEST.
lock
lease
hit=
if stamp_ok "$DEST"; then hit=1; touch "$DEST" 2>/dev/null || true; fi
unlock
# The same files (the stamp names this manifest) may since have been signed, or signed again:
# the signature on the volume follows the image's (written aside and renamed into place).
sync_signature() {
  if [ -f "$SRC/$SIG_NAME" ]; then
    cmp -s "$SRC/$SIG_NAME" "$DEST/$SIG_NAME" 2>/dev/null && return 0
    { cat "$SRC/$SIG_NAME" > "$DEST/.$SIG_NAME.$HOST" && chmod 0444 "$DEST/.$SIG_NAME.$HOST" \
      && mv -f "$DEST/.$SIG_NAME.$HOST" "$DEST/$SIG_NAME"; } 2>/dev/null \
      || die "$DEST/$SIG_NAME: cannot update the signature"
  fi
  return 0
}
if [ -n "$hit" ]; then
  sync_signature
  if [ "$FORCE" != 1 ]; then
    finish "version=$VERSION cache-hit files=$COUNT bytes=$TOTAL seconds=$(elapsed) target=$DEST"
  fi
  if cmp -s "$SUMS" "$DEST/$SUMS_NAME" && why=$(check_files "$DEST"); then
    finish "version=$VERSION cache-hit verified files=$COUNT bytes=$TOTAL seconds=$(elapsed) target=$DEST"
  fi
  say "version=$VERSION on the volume failed verification (${why:-$SUMS_NAME differs}); copying it again"
fi

# --- copy ---------------------------------------------------------------------------------------
# A private staging name (mktemp): a retry of a killed run, same hostname and PID 1, never
# collides with what that run left (removed by a later prune once 2 hours old).
STAGE=$(mktemp -d "$TARGET/.staging-$VERSION-$HOST.XXXXXX" 2>/dev/null) \
  || die "$TARGET: target not writable (cannot create a staging directory)"
avail=$(df -Pk "$TARGET" | awk 'NR == 2 {print $4}')
need=$(( (TOTAL + 1023) / 1024 ))
[ -z "$avail" ] || [ "$avail" -ge "$need" ] || die "$TARGET: disk full: need ${need} KiB, ${avail} KiB free"
if ! why=$(check_files "$STAGE" "$SRC"); then
  die "${why:-copy failed}"
fi
if ! err=$(cat "$SUMS" 2>&1 > "$STAGE/$SUMS_NAME"); then
  case $err in
    *'No space left'*|*'write error'*) die "$STAGE/$SUMS_NAME: disk full while copying ($TOTAL bytes needed)";;
    *) die "$STAGE/$SUMS_NAME: cannot write: $err";;
  esac
fi
if [ -f "$SRC/$SIG_NAME" ] && ! cat "$SRC/$SIG_NAME" > "$STAGE/$SIG_NAME" 2>/dev/null; then
  die "$STAGE/$SIG_NAME: cannot write (disk full?)"
fi
for f in "$STAGE"/*; do chmod 0444 "$f"; done
if ! { echo "$MSUM" > "$STAGE/$STAMP.tmp" && mv -f "$STAGE/$STAMP.tmp" "$STAGE/$STAMP"; } 2>/dev/null; then
  die "$STAGE: cannot write the stamp (disk full?)"
fi
chmod 0755 "$STAGE"

if ! mv -T "$STAGE" "$DEST" 2>/dev/null; then
  if stamp_ok "$DEST" && [ "$FORCE" != 1 ]; then
    # Another pod finished the same version first: use theirs.
    rm -rf "$STAGE"
    STAGE=
    finish "version=$VERSION finished by another pod, using it target=$DEST"
  fi
  # A different build of the same version (or one that failed re-verification): replace it.
  old=$TARGET/.trash-$VERSION-$HOST-$$
  mv -T "$DEST" "$old" && mv -T "$STAGE" "$DEST" || die "$DEST: cannot replace the existing version"
  TRASH=$old
fi
STAGE=
finish "version=$VERSION copied files=$COUNT bytes=$TOTAL seconds=$(elapsed) target=$DEST"
