#!/usr/bin/env bash
# Set up brainmri in ./.venv: PyTorch first (pinned, see below), then the app, its GUI, ONNX
# Runtime (the engine that classifies fastest on most CPUs: trainer.backend measures it), the
# offline Lite2 weights and what the tests need (pytest, pytest-qt).
#   ./install.sh                        # app + GUI + ONNX Runtime + Lite2 weights + test tools
#   EXTRAS=dev ./install.sh             # also linters, type checker, PyInstaller (what CI uses)
#   BRAINMRI_TORCH=cpu ./install.sh     # CPU-only PyTorch: a much smaller download, no GPU
# PyTorch: the default pin is the build this project is tested with; on Linux pip's default
# wheel is the CUDA build (with NVIDIA's libraries: about 6.5 GB in .venv). BRAINMRI_TORCH=cpu
# takes the CPU-only wheels instead; any other value is passed to pip as it is, e.g.
#   BRAINMRI_TORCH="torch torchvision --index-url https://download.pytorch.org/whl/cu126" ./install.sh
# Afterwards, on Linux, it checks the system libraries the app's window needs (Qt's X11
# plugin) and prints the apt-get command for any that are missing.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
EXTRAS=${EXTRAS:-gui,onnx,offline-lite2,test}
TORCH_PIN="torch==2.14.1 torchvision==0.29.1"
case "${BRAINMRI_TORCH:-}" in
  "") TORCH_SPEC=$TORCH_PIN ;;
  cpu) TORCH_SPEC="$TORCH_PIN --index-url https://download.pytorch.org/whl/cpu" ;;
  *) TORCH_SPEC=$BRAINMRI_TORCH ;;
esac

[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# shellcheck disable=SC2086  # the spec is a list of words on purpose
.venv/bin/python -m pip install -q $TORCH_SPEC
.venv/bin/python -m pip install -q -e ".[${EXTRAS}]"
echo "brainmri installed in $(pwd)/.venv ($(du -sh .venv | cut -f1)) — research and education only, not for clinical use."
if [ "$(uname -s)" = Linux ] && [[ ",$EXTRAS," =~ ,(gui|dev), ]]; then
  .venv/bin/python -m desktop_app.display --libraries || true
fi
