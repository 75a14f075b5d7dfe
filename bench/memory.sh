#!/usr/bin/env bash
# Benchmark: peak resident memory and time of path search (2 tournaments), one training epoch
# (batch 64) and one evaluation pass on generated 512-channel feature maps, with the maps kept in
# memory (the peer) or on disk at f16 and read a batch at a time; 10k, 50k and 200k training
# examples (and a tenth as many for validation) at 2x2 and 7x7 maps. Each configuration runs in
# its own process, so its peak (VmHWM) is its own. An in-memory run whose features would not fit
# in this machine's memory is not run. Prints a Markdown table with the disk/memory time ratio.
#
# Usage: bash bench/memory.sh [SIZES]     (default "10000 50000 200000"; spill files go to $TMPDIR)
set -euo pipefail
cd "$(dirname "$0")/.."
sizes="${1:-10000 50000 200000}"
cargo build --release -p medpath-pathnet --example memory_bench --quiet
memory_kib=$(awk '/MemTotal/ {print $2}' /proc/meminfo)
results=$(mktemp)
for side in 2 7; do
  for n in $sizes; do
    for store in memory disk-f16; do
      need_kib=$(( n * 11 / 10 * side * side * 512 * 4 / 1024 ))
      if [ "$store" = memory ] && [ "$need_kib" -gt $(( memory_kib * 2 / 3 )) ]; then
        echo "{\"n\": $n, \"side\": $side, \"store\": \"memory\", \"skipped\": \"needs $(( need_kib / 1048576 )) GiB of $(( memory_kib / 1048576 )) GiB\"}" >> "$results"
        continue
      fi
      target/release/examples/memory_bench "$n" "$side" "$store" >> "$results"
    done
  done
done

python3 - "$results" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
memory = {(r["n"], r["side"]): r for r in rows if r["store"] == "memory" and "skipped" not in r}
print("| maps | training examples | features (f32) | store | peak RSS | search (2 tournaments) | epoch | evaluation | epoch time disk / memory |")
print("|---|---:|---:|---|---:|---:|---:|---:|---:|")
for r in rows:
    maps = f'{r["side"]}x{r["side"]}'
    if "skipped" in r:
        print(f'| {maps} | {r["n"]:,} | | memory | not run: {r["skipped"]} | | | | |')
        continue
    peer = memory.get((r["n"], r["side"]))
    ratio = f'{r["epoch_s"] / peer["epoch_s"]:.2f}' if r["store"] != "memory" and peer else ""
    print(f'| {maps} | {r["n"]:,} | {r["feature_gib"]:.2f} GiB | {r["store"]} | {r["peak_rss_mib"]:.0f} MiB | {r["search_s"]:.1f} s | {r["epoch_s"]:.1f} s | {r["eval_s"]:.2f} s | {ratio} |')
PY
