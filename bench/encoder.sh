#!/usr/bin/env bash
# Benchmark: medpath's VGG-16 encoder (its cpu engine at f32, at bf16 where the CPU has AVX512-BF16 or AMX,
# at int8 where it has AVX512-VNNI; and burn Flex) against onnxruntime (and PyTorch when installed) on this machine, in one
# run: batch 8 at 224 px and batch 64 at 64 px. Prints images/s and each row's ratio to
# onnxruntime in the same run. The peers run with
# OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset (in their command only); medpath's own runs keep the
# environment as it is.
#
# Usage: bash bench/encoder.sh [REPEATS]     (default 7; the median is reported)
set -euo pipefail
cd "$(dirname "$0")/.."
repeats="${1:-7}"
venv="${BENCH_VENV:-target/bench-venv}"

cargo build --release -p medpath --quiet
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check numpy onnx onnxruntime

results=$(mktemp)
for case in "8 224" "64 64"; do
  set -- $case
  for engine in cpu:f32 cpu:bf16 cpu:int8 burn:f32; do
    if ! target/release/medpath bench encoder --engine "${engine%%:*}" --precision "${engine##*:}" \
        --batch "$1" --size "$2" --repeats "$repeats" >> "$results" 2> "$results.err"; then
      echo "skipped $engine: $(cat "$results.err")" >&2
    fi
  done
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$venv/bin/python" bench/peers.py --batch "$1" --size "$2" --repeats "$repeats" >> "$results"
done

python3 - "$results" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
print(f"{'engine':<40} {'batch':>5} {'size':>5} {'images/s':>9} {'x onnxruntime':>14}")
for row in rows:
    peer = next(r for r in rows if r["engine"].startswith("onnxruntime") and r["batch"] == row["batch"] and r["size"] == row["size"])
    print(f"{row['engine']:<40} {row['batch']:>5} {row['size']:>5} {row['images_per_s']:>9.2f} {row['images_per_s'] / peer['images_per_s']:>14.2f}")
PY
rm -f "$results" "$results.err"
