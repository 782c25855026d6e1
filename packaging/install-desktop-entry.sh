#!/usr/bin/env bash
# Add the bundle to the current user's application menu (Linux): a desktop entry that starts
# brainmri-app from this folder, and the app's icon. Run it from the unpacked bundle; run it again
# after moving the folder. `--remove` takes both away again. Nothing outside ~/.local is touched.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DATA="${XDG_DATA_HOME:-$HOME/.local/share}"
ENTRY="$DATA/applications/brainmri.desktop"
ICONS="$DATA/icons/hicolor"

if [[ "${1:-}" == "--remove" ]]; then
    rm -f "$ENTRY" "$ICONS"/*/apps/brainmri.png "$ICONS"/scalable/apps/brainmri.svg
    echo "removed $ENTRY and the brainmri icons"
    exit 0
fi
[[ -x "$HERE/brainmri-app" ]] || { echo "no brainmri-app in $HERE" >&2; exit 1; }

mkdir -p "$DATA/applications"
# Exec: quote the path (it may hold spaces); a desktop entry escapes \ " ` $ inside quotes.
exe=$(printf '%s' "$HERE/brainmri-app" | sed -e 's/[\\"`$]/\\&/g')
sed -e "s|^Exec=.*|Exec=\"${exe//|/\\|}\" %F|" -e "s|^TryExec=.*|TryExec=${HERE//|/\\|}/brainmri-app|" \
    "$HERE/brainmri.desktop" > "$ENTRY"

icons="$HERE/_internal/assets/icons"
installed=0
for png in "$icons"/brainmri-*.png "$icons"/brainmri.png; do
    [[ -f "$png" ]] || continue
    size=$(basename "$png" .png); size=${size#brainmri-}; size=${size#brainmri}
    [[ "$size" =~ ^[0-9]+$ ]] || size=256
    mkdir -p "$ICONS/${size}x${size}/apps"
    cp "$png" "$ICONS/${size}x${size}/apps/brainmri.png"
    installed=1
done
if [[ -f "$icons/brainmri.svg" ]]; then
    mkdir -p "$ICONS/scalable/apps" && cp "$icons/brainmri.svg" "$ICONS/scalable/apps/"
    installed=1
fi
[[ $installed == 1 ]] || echo "note: no icons in $icons; the menu shows a generic one" >&2
if command -v update-desktop-database > /dev/null; then
    update-desktop-database "$DATA/applications" || true
fi
if command -v gtk-update-icon-cache > /dev/null; then gtk-update-icon-cache -q -t "$ICONS" || true; fi
echo "installed $ENTRY"
