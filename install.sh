#!/usr/bin/env bash
# Set up brainmri in ./.venv: PyTorch first (pinned, see below), then the app and its extras.
#   ./install.sh            # app + GUI + offline Lite2 weights
#   EXTRAS=dev ./install.sh # also tests, linters, ONNX (what CI uses)
# PyTorch: the default pin is the build this project is tested with. For another build (CPU-only
# wheels, a different CUDA, Apple silicon) set BRAINMRI_TORCH, e.g.
#   BRAINMRI_TORCH="torch torchvision --index-url https://download.pytorch.org/whl/cpu" ./install.sh
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
EXTRAS=${EXTRAS:-gui,offline-lite2}
TORCH_SPEC=${BRAINMRI_TORCH:-"torch==2.14.1 torchvision==0.29.1"}

[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# shellcheck disable=SC2086  # the spec is a list of words on purpose
.venv/bin/python -m pip install -q $TORCH_SPEC
.venv/bin/python -m pip install -q -e ".[${EXTRAS}]"
echo "brainmri installed in $(pwd)/.venv — research and education only, not for clinical use."
