#!/usr/bin/env bash
# Check a built bundle the way a new user meets it: moved to another folder, started with no
# virtual environment on PATH, a fresh temporary HOME and offscreen Qt.
#
#   bash packaging/check_bundle.sh [BUNDLE] [SCAN...]
#
# BUNDLE defaults to dist/brainmri. The checks:
#   1. brainmri --help                     (the command line starts)
#   2. brainmri-app --self-test            (Qt, the default model, the samples, Grad-CAM)
#   3. brainmri predict SAMPLE [SCAN...] --json --cam-dir DIR
#                                          (a prediction and its overlay PNG for every slice; the
#                                           SCANs, e.g. compressed DICOM files, are predicted too)
#   4. brainmri-app --screenshot PNG SAMPLE (the window: a scan opened as if dropped gets its
#                                           prediction and Grad-CAM overlay; the PNG is kept where
#                                           BRAINMRI_CHECK_SCREENSHOT says, if set)
#   5. the bundle is unchanged afterwards  (no user data or caches were written into it)
#   6. (Linux) every shared library is bundled, except those the user's system provides
# The bundle is relocated with hard links (cp -al, no extra disk) when the file system allows,
# else checked where it is. Prints each check's time; exits non-zero on the first failure.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUNDLE="${1:-$ROOT/dist/brainmri}"
[[ $# -gt 0 ]] && shift
BUNDLE="$(cd "$BUNDLE" && pwd)"
[[ -x "$BUNDLE/brainmri-app" && -x "$BUNDLE/brainmri" ]] || {
    echo "check_bundle: $BUNDLE has no brainmri-app and brainmri (build it first)" >&2; exit 2; }
SCANS=()
for scan in "$@"; do SCANS+=("$(cd "$(dirname "$scan")" && pwd)/$(basename "$scan")"); done

TMP="$(mktemp -d "${TMPDIR:-/tmp}/brainmri-check.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$TMP/home" "$TMP/work" "$TMP/cams"

if cp -al "$BUNDLE" "$TMP/brainmri" 2>/dev/null; then
    APP="$TMP/brainmri"
    echo "check_bundle: relocated the bundle to $APP (hard links)"
else
    rm -rf "$TMP/brainmri"
    APP="$BUNDLE"
    echo "check_bundle: checking $APP in place (hard links not possible here)"
fi
SAMPLE="$(find "$APP/_internal/assets/samples" -maxdepth 1 -type f \
    \( -iname '*.jpg' -o -iname '*.png' -o -iname '*.dcm' \) | sort | head -n 1)"
[[ -n "$SAMPLE" ]] || { echo "check_bundle: FAIL no sample scan in the bundle" >&2; exit 1; }
( cd "$APP" && find . -type f | sort ) > "$TMP/files-before"

# A clean environment: no PYTHON*, no virtual environment, no DISPLAY, a HOME of its own.
clean() {
    (cd "$TMP/work" && env -i HOME="$TMP/home" PATH=/usr/bin:/bin LANG=C.UTF-8 \
        QT_QPA_PLATFORM=offscreen "$@")
}
now() { date +%s.%N; }
took() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }

t=$(now)
clean "$APP/brainmri" --help > "$TMP/help.txt" || {
    echo "check_bundle: FAIL brainmri --help" >&2; cat "$TMP/help.txt" >&2; exit 1; }
echo "check_bundle: ok   brainmri --help ($(took "$t"))"

t=$(now)
if ! clean "$APP/brainmri-app" --self-test > "$TMP/self-test.txt" 2>&1; then
    echo "check_bundle: FAIL brainmri-app --self-test:" >&2; cat "$TMP/self-test.txt" >&2; exit 1
fi
echo "check_bundle: ok   brainmri-app --self-test ($(took "$t")): $(tail -n 1 "$TMP/self-test.txt")"

t=$(now)
# One file per run: the reader collapses copies of one image (one SOP Instance UID) that arrive
# together, and every encoding must be decoded here to show that its plugin is in the bundle.
rows=0
for input in "$SAMPLE" "${SCANS[@]}"; do
    name="$(basename "$input")"
    if ! clean "$APP/brainmri" predict "$input" --json --cam-dir "$TMP/cams/$name" \
            > "$TMP/predict-$name.json" 2> "$TMP/predict.err"; then
        echo "check_bundle: FAIL brainmri predict $name:" >&2
        cat "$TMP/predict.err" "$TMP/predict-$name.json" >&2; exit 1
    fi
    n=$(grep -c '"predicted_class": "' "$TMP/predict-$name.json" || true)
    if [[ "$n" -lt 1 ]]; then
        echo "check_bundle: FAIL brainmri predict gave no prediction for $name:" >&2
        cat "$TMP/predict-$name.json" >&2; exit 1
    fi
    rows=$((rows + n))
done
cp "$TMP/predict-$(basename "$SAMPLE").json" "$TMP/predict.json"
pngs=$(find "$TMP/cams" -name '*.png' -size +0 | wc -l)
if [[ "$pngs" -lt "$rows" ]]; then
    echo "check_bundle: FAIL brainmri predict gave $rows predictions and $pngs overlays" >&2
    exit 1
fi
first=$(grep -m1 '"predicted_class"' "$TMP/predict.json" | tr -d ' ,')
echo "check_bundle: ok   brainmri predict ($(took "$t")): $rows predictions, $pngs overlays; " \
    "$(basename "$SAMPLE") $first"

t=$(now)
if ! clean "$APP/brainmri-app" --screenshot "$TMP/window.png" "$SAMPLE" \
        > "$TMP/screenshot.txt" 2>&1 || [[ ! -s "$TMP/window.png" ]]; then
    echo "check_bundle: FAIL brainmri-app --screenshot:" >&2; cat "$TMP/screenshot.txt" >&2; exit 1
fi
if [[ -n "${BRAINMRI_CHECK_SCREENSHOT:-}" ]]; then cp "$TMP/window.png" "$BRAINMRI_CHECK_SCREENSHOT"; fi
echo "check_bundle: ok   brainmri-app --screenshot ($(took "$t")): the window opened" \
    "$(basename "$SAMPLE") and showed its prediction and overlay"

if [[ -n "${BRAINMRI_CHECK_TRAIN_DATA:-}" ]]; then
    # Training decodes images in worker processes, which a frozen program starts by running
    # itself again (multiprocessing's forkserver or spawn): a toy run with one worker shows
    # that this works from the bundle. A worker that cannot start hangs, hence the timeout.
    DATA="$(cd "$BRAINMRI_CHECK_TRAIN_DATA" && pwd)"
    t=$(now)
    if ! clean timeout 600 "$APP/brainmri" train --data "$DATA" --out "$TMP/run" --quiet \
            --preset paper --backbone test_efficientnet --pretrained none --img-size 32 \
            --batch-size 8 --epochs 1 --workers 1 > "$TMP/train.txt" 2>&1 \
            || [[ ! -s "$TMP/run/model.safetensors" ]]; then
        echo "check_bundle: FAIL brainmri train with a decoding worker process:" >&2
        tail -n 20 "$TMP/train.txt" >&2; exit 1
    fi
    echo "check_bundle: ok   brainmri train ($(took "$t")): one epoch with a decoding worker process"
fi

( cd "$APP" && find . -type f | sort ) > "$TMP/files-after"
if ! diff -q "$TMP/files-before" "$TMP/files-after" > /dev/null; then
    echo "check_bundle: FAIL the programs wrote into the bundle:" >&2
    diff "$TMP/files-before" "$TMP/files-after" | head -20 >&2; exit 1
fi
echo "check_bundle: ok   nothing was written into the bundle"

# Linux: shared libraries that neither the bundle nor this system provides. Those of Qt's
# display plugins (X11 / Wayland / EGL) and the GPU driver (libcuda) come from the user's system
# by design; anything else missing is a packaging bug. A library that ldd cannot place but that
# the bundle holds elsewhere is fine: it is loaded by name before (torchvision's _C_stable.so
# needs torch's libraries, which `import torch` has loaded).
if [[ "$(uname -s)" == Linux ]] && command -v ldd > /dev/null; then
    ( cd "$APP/_internal" && find . -name '*.so*' -printf '%f\n' ) | sort -u > "$TMP/bundled-libs"
    ( cd "$APP/_internal" && find . -type f -name '*.so*' | while read -r lib; do
        LD_LIBRARY_PATH="$APP/_internal" ldd "$lib" 2>/dev/null | awk -v f="$lib" \
            '/not found/ { print f, $1 }'
    done ) | sort -u | awk 'NR == FNR { have[$1] = 1; next } !($2 in have)' \
        "$TMP/bundled-libs" - > "$TMP/missing-libs"
    system_side='PySide6/Qt/plugins/|libQt6(XcbQpa|WaylandClient|WlShellIntegration|EglFS)|libcaffe2_nvrtc'
    if grep -Ev "$system_side" "$TMP/missing-libs" | grep -v ' libcuda\.so' > "$TMP/broken-libs"; then
        echo "check_bundle: FAIL libraries missing from the bundle:" >&2
        cat "$TMP/broken-libs" >&2; exit 1
    fi
    wanted=$(awk '{print $2}' "$TMP/missing-libs" | sort -u | tr '\n' ' ')
    echo "check_bundle: ok   every library is bundled; from the system (display, GPU driver)" \
        "this machine lacks: ${wanted:-none}"
fi
echo "check_bundle: all checks passed"
