#!/usr/bin/env bash
# Set up everything the tests need on a fresh Debian 12 machine (as root), then run them.
#
#   bash tests/run.sh [pytest args...]
#
# Installs the Debian packages (Lmod, Charliecloud, Slurm + munge, debootstrap, Chromium),
# creates a fresh virtualenv in .venv, installs the package with its test extras (this builds
# the JupyterLab extension with Node), builds the test container images (cached in
# ~/.cache/jupyter-container-kernels-test), runs the linters (ruff; prettier, eslint and the
# generated-types check in labextension/; any finding fails), starts a single-node Slurm, runs
# the frontend unit tests and pytest (every test: `system` ones too, and the `packaging` ones,
# which build the sdist and the wheel), and stops Slurm again.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
PY=${PYTHON:-python3}
step() { printf '\n==> %s (%ss)\n' "$*" "$SECONDS"; }

step "system packages"
bash tests/support/install_system_deps.sh

step "virtualenv .venv and the package with test extras"
rm -rf .venv
"$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[test,lint]"
export PATH="$ROOT/.venv/bin:$PATH"

step "lint: ruff (Python), prettier + eslint and the generated REST types (TypeScript)"
ruff check .
ruff format --check .
(cd labextension && jlpm install --immutable && jlpm lint:check && jlpm check:types)

step "test container images"
bash tests/support/build_image.sh

step "single-node Slurm"
bash tests/support/slurm.sh start
trap 'bash tests/support/slurm.sh stop >/dev/null 2>&1 || true' EXIT

if [ -f labextension/package.json ] && grep -q '"test"' labextension/package.json; then
  step "frontend unit tests"
  (cd labextension && jlpm install --immutable && jlpm test)
fi

step "pytest"
mkdir -p test-artifacts
python -m pytest "$@"
