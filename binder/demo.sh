#!/usr/bin/env bash
# JupyterLab with a demo container kernel, on a fresh Debian 12 machine, as root.
#
#   bash binder/demo.sh        (PORT=8888 and JCK_DEMO_DIR=~/container-kernels-demo by default)
#
# Installs the system packages (Charliecloud, Lmod, Slurm, debootstrap), a virtualenv in .venv
# with this package (building the JupyterLab extension), builds a small Debian 12 image with
# python3-ipykernel from Debian's archive (no container registry; cached), registers it as the
# kernel "Python 3.11 demo (container)" run by Charliecloud's ch-run, starts a single-node
# Slurm for "Submit as batch job", and starts JupyterLab on 127.0.0.1.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

bash tests/support/install_system_deps.sh
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e .
export PATH="$ROOT/.venv/bin:$PATH"
export USER=${USER:-$(id -un)}   # ch-run refuses to start without it

image=$(bash tests/support/build_image.sh | grep '/py-ipykernel$')
bash tests/support/slurm.sh start

jupyter container-kernels install "$image" --force --name python-demo \
  --display-name "Python 3.11 demo (container)" --runtime charliecloud --gpu none

demo_dir=${JCK_DEMO_DIR:-$HOME/container-kernels-demo}
mkdir -p "$demo_dir"
[ -e "$demo_dir/demo.ipynb" ] || cp binder/demo.ipynb "$demo_dir/demo.ipynb"

echo "Open the URL printed below; the launcher shows \"Python 3.11 demo (container)\"." >&2
exec jupyter lab --allow-root --no-browser --ip 127.0.0.1 --port "${PORT:-8888}" \
  --ServerApp.root_dir="$demo_dir" --LabApp.default_url=/lab/tree/demo.ipynb
