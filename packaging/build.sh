#!/usr/bin/env bash
# Build the one-folder bundle: DIST/brainmri/ with brainmri-app, brainmri and _internal/.
#
#   bash packaging/build.sh [--assets DIR] [--cpu-only] [--dist DIR] [--work DIR] [--python PY]
#
#   --assets DIR  folder bundled as assets/ (needs models/default.safetensors and samples/);
#                 default: the repository's assets/
#   --cpu-only    leave out the CUDA libraries torch opens only on a GPU and always run on the
#                 CPU (for a torch CUDA wheel; see packaging/README.md)
#   --dist DIR    where the bundle goes (default: dist/, git-ignored)
#   --work DIR    PyInstaller's work folder (default: build/pyinstaller, git-ignored)
#   --python PY   the Python whose packages are bundled (default: .venv/bin/python if present,
#                 else python3); it needs the project (pip install -e .[gui]) and pyinstaller
#
# Prints the build time and the bundle's size at the end. Run it on the system you target:
# PyInstaller does not cross-build (a Windows bundle is built on Windows, and so on).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

ASSETS="" CPU_ONLY="" DIST="dist" WORK="build/pyinstaller" PY=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --assets) ASSETS="$2"; shift 2 ;;
        --cpu-only) CPU_ONLY=1; shift ;;
        --dist) DIST="$2"; shift 2 ;;
        --work) WORK="$2"; shift 2 ;;
        --python) PY="$2"; shift 2 ;;
        -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "build.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
    esac
done
if [[ -z "$PY" ]]; then
    if [[ -x .venv/bin/python ]]; then PY=.venv/bin/python
    elif [[ -x .venv/Scripts/python.exe ]]; then PY=.venv/Scripts/python.exe
    else PY=python3
    fi
fi
if ! "$PY" -c "import PyInstaller" 2>/dev/null; then
    echo "build.sh: $PY has no PyInstaller; install it with: $PY -m pip install -e '.[dev]'" >&2
    exit 2
fi
if ! "$PY" -c "import PySide6, pyqtgraph, trainer, desktop_app" 2>/dev/null; then
    echo "build.sh: $PY lacks the app; install it with: $PY -m pip install -e '.[gui]'" >&2
    exit 2
fi

spec_args=()
[[ -n "$ASSETS" ]] && spec_args+=(--assets "$(cd "$ASSETS" && pwd)")
[[ -n "$CPU_ONLY" ]] && spec_args+=(--cpu-only)

started=$(date +%s)
# --clean: no stale analysis from another torch or another set of options.
"$PY" -m PyInstaller --noconfirm --clean --log-level WARN \
    --distpath "$DIST" --workpath "$WORK" \
    packaging/brainmri.spec -- "${spec_args[@]}"

BUNDLE="$DIST/brainmri"
# The Linux desktop entry, its icon and the script that installs both for the current user.
cp packaging/brainmri.desktop packaging/install-desktop-entry.sh "$BUNDLE/"
chmod +x "$BUNDLE/install-desktop-entry.sh"

elapsed=$(( $(date +%s) - started ))
echo
echo "build.sh: built $BUNDLE in $((elapsed / 60)) min $((elapsed % 60)) s"
du -sh "$BUNDLE" | awk '{print "build.sh: bundle size " $1}'
echo "build.sh: largest parts of _internal/:"
du -sh "$BUNDLE"/_internal/* | sort -h | tail -8 | sed 's/^/    /'
echo "build.sh: check it with: bash packaging/check_bundle.sh $BUNDLE"
