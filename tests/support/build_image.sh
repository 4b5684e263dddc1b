#!/usr/bin/env bash
# build_image.sh - build the two directory container images the tests run,
# without any container registry, and cache them between runs.
#
#   $CACHE/images/py-bare       Debian bookworm minbase + python3 (no ipykernel)
#   $CACHE/images/py-ipykernel  the same + python3-ipykernel (Debian's 6.17)
#
# CACHE is ${JCK_IMAGE_CACHE:-$HOME/.cache/jupyter-container-kernels-test}.
# The images are plain directory trees that Charliecloud's `ch-run IMAGE -- CMD`
# runs unprivileged (and that tests/support/bin/apptainer hands to ch-run).
#
# How: `debootstrap --variant=minbase bookworm` from the Debian archive the host's
# apt already uses (never a hard-coded host; override with JCK_DEBIAN_MIRROR),
# then `apt-get install --no-install-recommends` inside the chroot
# (`debootstrap --include=python3-ipykernel` fails to resolve its dependencies).
# py-bare is built first and copied (cp -a) to make py-ipykernel.
#
# Each image has:
#   /etc/jck-test-image   marker file holding the image name
#   /mnt/0 ... /mnt/9, /scratch, /data
#                         bind destinations: ch-run only binds onto directories
#                         that already exist in the image
#   /tmp /var/tmp /home /root /run
#
# Cached: a stamp file records RECIPE_VERSION; when it matches (and both images
# are present) the script prints the paths and exits at once. Bump
# RECIPE_VERSION whenever the recipe below changes, so caches rebuild.
# The build happens in a temporary directory next to the images, which is then
# renamed into place, under a lock (flock) so parallel callers wait for one build.
#
# Output: the last two lines on stdout are the image paths (bare, ipykernel).
# Needs root (debootstrap, chroot) and the packages debootstrap, wget,
# debian-archive-keyring (tests/support/install_system_deps.sh installs them).
set -euo pipefail

RECIPE_VERSION=1
SUITE=bookworm
CACHE=${JCK_IMAGE_CACHE:-${HOME:?set HOME or JCK_IMAGE_CACHE}/.cache/jupyter-container-kernels-test}
IMAGES=$CACHE/images
STAMP=$IMAGES/.recipe-stamp
STAMP_TEXT="recipe-version=$RECIPE_VERSION suite=$SUITE"
NAMES=(py-bare py-ipykernel)

log() { echo "[build_image] $*" >&2; }
die() { echo "[build_image] ERROR: $*" >&2; exit 1; }

up_to_date() {
  [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$STAMP_TEXT" ] || return 1
  local name
  for name in "${NAMES[@]}"; do
    [ "$(cat "$IMAGES/$name/etc/jck-test-image" 2>/dev/null)" = "$name" ] || return 1
  done
}

print_paths() { local name; for name in "${NAMES[@]}"; do echo "$IMAGES/$name"; done; }

# Fast path: no lock, no subprocess beyond `cat`.
if up_to_date; then
  print_paths
  exit 0
fi

[ "$(id -u)" -eq 0 ] || die "must run as root (debootstrap and chroot need it); images go to $IMAGES"
command -v debootstrap >/dev/null || PATH=$PATH:/usr/sbin:/sbin
command -v debootstrap >/dev/null || die "debootstrap not found; run tests/support/install_system_deps.sh"

mkdir -p "$IMAGES"
exec 9>"$CACHE/.build.lock"
if ! flock -n 9; then
  log "another build is running; waiting for it (lock $CACHE/.build.lock)"
  flock 9
fi
if up_to_date; then   # somebody else built it while we waited
  print_paths
  exit 0
fi

# --- the Debian archive the host's apt uses ---------------------------------
# First URI of an enabled `deb` source whose suite is a release (not -security,
# -updates, -backports), from deb822 *.sources files or one-line *.list files.
host_mirror() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk 'BEGIN { RS = ""; FS = "\n" }
      {
        types = ""; uris = ""; suites = ""; enabled = "yes"
        for (i = 1; i <= NF; i++) {
          line = $i
          if (line ~ /^[ \t]*#/) continue
          split(line, kv, ":"); key = tolower(kv[1])
          value = substr(line, index(line, ":") + 1); gsub(/^[ \t]+|[ \t]+$/, "", value)
          if (key == "types") types = value
          else if (key == "uris") uris = value
          else if (key == "suites") suites = value
          else if (key == "enabled") enabled = tolower(value)
        }
        if (enabled == "no" || (" " types " ") !~ / deb /) next
        n = split(suites, s, /[ \t]+/)
        for (j = 1; j <= n; j++) if (s[j] !~ /-(security|updates|backports|proposed-updates)$/ && s[j] != "") {
          split(uris, u, /[ \t]+/); print u[1]; exit
        }
      }' "$f"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    # deb [options] URI suite components...
    awk '$1 == "deb" {
        i = 2
        if ($i ~ /^\[/) { while ($i !~ /\]$/ && i < NF) i++; i++ }
        if ($(i + 1) !~ /-(security|updates|backports|proposed-updates)$/) { print $i; exit }
      }' "$f"
  done
}
MIRROR=${JCK_DEBIAN_MIRROR:-$(host_mirror | head -n 1)}
[ -n "$MIRROR" ] || die "could not find a Debian archive in /etc/apt/sources.list{,.d/*.sources,.d/*.list}; set JCK_DEBIAN_MIRROR"

# Reuse the host's apt proxy, if it has one, for debootstrap (wget) and the chroot's apt.
APT_OPTS=(-o DPkg::Lock::Timeout=900 -o APT::Install-Recommends=false -o Dpkg::Use-Pty=0)
HTTP_PROXY_CONF=""
eval "$(apt-config shell HTTP_PROXY_CONF Acquire::http::Proxy)"
if [ -n "$HTTP_PROXY_CONF" ]; then
  export http_proxy=${http_proxy:-$HTTP_PROXY_CONF}
  APT_OPTS+=(-o "Acquire::http::Proxy=$HTTP_PROXY_CONF")
fi

# --- build --------------------------------------------------------------------
T0=$SECONDS
# We hold the lock: any other build directory is left over from a killed build.
rm -rf --one-file-system "$IMAGES"/.build.*
BUILD=$(mktemp -d "$IMAGES/.build.XXXXXX")
cleanup() { rm -rf --one-file-system "$BUILD"; }
trap cleanup EXIT

in_chroot() {  # in_chroot DIR CMD... with a predictable environment
  local dir=$1; shift
  env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive \
      ${http_proxy:+http_proxy=$http_proxy} chroot "$dir" "$@"
}

apt_in() {  # apt_in DIR apt-get-args...
  local dir=$1; shift
  in_chroot "$dir" apt-get "${APT_OPTS[@]}" -q "$@"
}

finish_image() {  # finish_image DIR NAME: bind destinations, marker, cleanup
  local dir=$1 name=$2 i
  for i in 0 1 2 3 4 5 6 7 8 9; do mkdir -p "$dir/mnt/$i"; done
  mkdir -p "$dir/scratch" "$dir/data" "$dir/home" "$dir/root" "$dir/run" "$dir/var/tmp" "$dir/tmp"
  chmod 1777 "$dir/tmp" "$dir/var/tmp"
  echo "$name" > "$dir/etc/jck-test-image"
  grep -q "VERSION_CODENAME=$SUITE" "$dir/etc/os-release" || die "$name: /etc/os-release is not Debian $SUITE"
  apt_in "$dir" clean
  rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/*.bin "$dir"/var/cache/debconf/*-old \
         "$dir"/var/log/apt/* "$dir"/var/log/dpkg.log "$dir"/var/log/bootstrap.log \
         "$dir"/usr/share/doc/* "$dir"/usr/share/man/* "$dir"/usr/share/info/*
  find "$dir/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name 'locale.alias' -exec rm -rf {} + 2>/dev/null || true
}

log "building $SUITE images from $MIRROR into $IMAGES (recipe $RECIPE_VERSION; about a minute)"
BARE=$BUILD/py-bare
IPYK=$BUILD/py-ipykernel

log "debootstrap --variant=minbase $SUITE"
debootstrap --variant=minbase "$SUITE" "$BARE" "$MIRROR" > "$BUILD/debootstrap.log" 2>&1 \
  || { tail -n 20 "$BUILD/debootstrap.log" >&2; die "debootstrap failed (log above)"; }
log "debootstrap done after $((SECONDS - T0)) s"

# debootstrap writes `deb $MIRROR $SUITE main` to the chroot's sources.list.
apt_in "$BARE" update > "$BUILD/apt.log" 2>&1 || { tail -n 20 "$BUILD/apt.log" >&2; die "apt-get update in chroot failed"; }
apt_in "$BARE" install -y --no-install-recommends python3 >> "$BUILD/apt.log" 2>&1 \
  || { tail -n 20 "$BUILD/apt.log" >&2; die "installing python3 failed"; }
log "py-bare: python3 installed after $((SECONDS - T0)) s"

cp -a "$BARE" "$IPYK"
apt_in "$IPYK" install -y --no-install-recommends python3-ipykernel >> "$BUILD/apt.log" 2>&1 \
  || { tail -n 20 "$BUILD/apt.log" >&2; die "installing python3-ipykernel failed"; }
log "py-ipykernel: python3-ipykernel installed after $((SECONDS - T0)) s"

finish_image "$BARE" py-bare
finish_image "$IPYK" py-ipykernel
in_chroot "$BARE" python3 -c 'import sys; assert sys.version_info >= (3, 11)' || die "py-bare: python3 does not run"
in_chroot "$BARE" python3 -c 'import ipykernel' 2>/dev/null && die "py-bare must not contain ipykernel"
in_chroot "$IPYK" python3 -c 'import ipykernel' || die "py-ipykernel: cannot import ipykernel"

# --- swap into place ------------------------------------------------------------
rm -f "$STAMP"   # a half-swapped cache must never look up to date
for name in "${NAMES[@]}"; do
  if [ -e "$IMAGES/$name" ]; then
    mv "$IMAGES/$name" "$BUILD/old-$name"
  fi
  mv "$BUILD/$name" "$IMAGES/$name"
done
echo "$STAMP_TEXT" > "$STAMP"
log "done in $((SECONDS - T0)) s ($(du -sh "$IMAGES/py-bare" | cut -f1) + $(du -sh "$IMAGES/py-ipykernel" | cut -f1))"
print_paths
