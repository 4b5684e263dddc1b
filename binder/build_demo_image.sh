#!/usr/bin/env bash
# build_demo_image.sh [DEST] - the demo's container image, built without root and without
# user namespaces (a Binder build has neither): Docker Hub's python:3.11-slim pulled with
# skopeo, unpacked with `umoci unpack --rootless` into a plain directory image, then ipykernel
# and numpy added with `pip install --target` (manylinux wheels, so nothing runs inside the
# image while building). Prints the image path; does nothing when it is already there.
#
# DEST defaults to ~/images/python-3.11-demo; JCK_DEMO_BASE overrides the source image.
set -euo pipefail

DEST=${1:-$HOME/images/python-3.11-demo}
BASE=${JCK_DEMO_BASE:-docker://docker.io/library/python:3.11-slim}
MARKER=etc/jck-demo-image

log() { echo "[build_demo_image] $*" >&2; }
die() { echo "[build_demo_image] ERROR: $*" >&2; exit 1; }

if [ -f "$DEST/$MARKER" ]; then
  echo "$DEST"
  exit 0
fi
for tool in skopeo umoci; do
  command -v "$tool" >/dev/null || die "$tool is not installed (binder/apt.txt lists it)"
done

mkdir -p "$(dirname "$DEST")"
work=$(mktemp -d "$(dirname "$DEST")/.build.XXXXXX")
trap 'rm -rf "$work"' EXIT

log "pulling $BASE"
skopeo copy --quiet "$BASE" "oci:$work/oci:demo"
umoci unpack --rootless --image "$work/oci:demo" "$work/bundle" >/dev/null
root=$work/bundle/rootfs
site=$(ls -d "$root"/usr/local/lib/python3.*/site-packages 2>/dev/null | head -n 1)
[ -n "$site" ] || die "$BASE has no /usr/local/lib/python3.X/site-packages"
pyver=$(basename "$(dirname "$site")")   # python3.11
log "adding ipykernel and numpy for $pyver"
python -m pip install --quiet --no-cache-dir --no-compile --target "$site" \
  --platform manylinux2014_x86_64 --implementation cp --python-version "${pyver#python}" \
  --only-binary=:all: ipykernel numpy

# Bind destinations must exist for ch-run; the marker lets a notebook prove where it runs.
mkdir -p "$root/scratch" "$root/data" "$root"/mnt/{0,1,2,3,4,5,6,7,8,9}
echo "python-3.11-demo ($BASE)" > "$root/$MARKER"
mv "$root" "$DEST"
log "done: $DEST"
echo "$DEST"
