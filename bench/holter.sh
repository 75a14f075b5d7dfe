#!/usr/bin/env bash
# Benchmark: a day-long (Holter-scale) record through `medpath predict`, end to end (reading,
# beat detection from annotations, drawing, encoding, answers, pooling), with the beats per
# second and the peak memory. The record is generated (`medpath ecg synth`), so the number
# measures speed, not accuracy.
#
# Usage: bash bench/holter.sh MODEL_RUN_DIR [SECONDS]     (default 86400: 24 hours)
set -euo pipefail
cd "$(dirname "$0")/.."
model="${1:?usage: bash bench/holter.sh MODEL_RUN_DIR [SECONDS]}"
seconds="${2:-86400}"

cargo build --release -p medpath --quiet
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
target/release/medpath ecg synth --out "$work" --records 1 --seconds "$seconds" --seed 7 > /dev/null
/usr/bin/time -v target/release/medpath predict --model "$model" "$work/s001" --json \
  > "$work/answers.json" 2> "$work/time.txt"

python3 - "$work/answers.json" "$work/time.txt" "$seconds" <<'PY'
import json, re, sys
answers = json.load(open(sys.argv[1]))
timing = open(sys.argv[2]).read()
clock = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", timing).group(1)
parts = [float(p) for p in clock.split(":")]
wall = sum(p * 60 ** i for i, p in enumerate(reversed(parts)))
rss_mb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", timing).group(1)) / 1024
beats = sum(r["beats"] for r in answers["records"])
print(f"record: {float(sys.argv[3]) / 3600:.1f} h, {beats} beats answered")
print(f"wall: {wall:.0f} s, {beats / wall:.1f} beats/s, peak RSS {rss_mb:.0f} MB")
PY
