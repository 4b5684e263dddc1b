#!/usr/bin/env bash
# install_system_deps.sh - install every Debian package the test suite needs.
#
# Checks each package with `dpkg -s` first: on a machine that already has them
# all it does nothing and returns in well under a second, without touching the
# network. Otherwise it runs `apt-get update` once and installs only what is
# missing. Debian 12 (bookworm), run as root (or with sudo available).
#
#   lmod                          real `module` command (Lmod 8.6) for modules tests
#   charliecloud                  ch-run: runs the directory test images unprivileged
#   slurmctld slurmd slurm-client single-node Slurm cluster (tests/support/slurm.sh)
#   munge                         Slurm authentication
#   slurmdbd mariadb-server       Slurm accounting (sacct) for the fault tests' private
#                                 cluster (tests/faults/slurm_private.py starts its own MariaDB)
#   debootstrap + keyring, gnupg  builds the test images without a registry
#                                 (tests/support/build_image.sh)
#   wget ca-certificates          debootstrap downloads
#   python3                       runs tests/support/bin/apptainer (stdlib only)
#   squashfs-tools                mksquashfs: the fault tests' corrupt SquashFS image
#   procps                        pgrep/ps used when stopping daemons
#   chromium                      the browser the UI tests drive via Playwright
#   buildah                       writes a docker-archive tarball (tests/images, no registry)
#   skopeo                        docker:// pulls (the product's) and pushes into the test registry
#   docker-registry openssl       the local TLS registry tests/images starts (self-signed cert)
#   apache2-utils                 htpasswd -B: the password file of the registry needing a login
#   podman                        runtime: podman kernels and `pull --runtime podman` (runc)
#   umoci                         the Apptainer stand-in's `pull`/`build` unpack (with skopeo,
#                                 squashfs-tools; tests/support/apptainer_pull.py)
#   nodejs (only if no `node`)     builds the JupyterLab extension (jlpm) at pip install
#
# Not needed: environment-modules (conflicts with lmod: installing it removes
# Lmod), apptainer/singularity (a stand-in is used instead).
set -euo pipefail

PACKAGES=(
  lmod
  charliecloud
  slurmctld slurmd slurm-client munge
  slurmdbd mariadb-server
  debootstrap debian-archive-keyring gnupg wget ca-certificates
  python3 squashfs-tools
  procps
  chromium
  buildah
  skopeo docker-registry openssl apache2-utils
  podman umoci
)

# The machine image ships Node.js; Debian's (18) is enough for jlpm where it does not.
command -v node >/dev/null || PACKAGES+=(nodejs)

missing=()
for pkg in "${PACKAGES[@]}"; do
  # "install ok installed" is the only state in which the package is usable.
  if [ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)" != "install ok installed" ]; then
    missing+=("$pkg")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "[install_system_deps] all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "[install_system_deps] need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  SUDO=(sudo)
fi

export DEBIAN_FRONTEND=noninteractive
APT=("${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900)
echo "[install_system_deps] installing: ${missing[*]}"
"${APT[@]}" update -q
"${APT[@]}" install -y -q --no-install-recommends "${missing[@]}"
echo "[install_system_deps] done"
