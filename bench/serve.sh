#!/usr/bin/env bash
# Benchmark: `medpath serve` under load, against `medpath predict` on the same files in one
# process. Clients post 224 px chest X-rays (raw JPEG bodies) to /v1/predict; for 1, 4 and 16
# concurrent clients it prints requests/s, p50 and p99 latency, failed requests, and the
# server's peak RSS. Then the server is killed with SIGKILL and started again: the same image
# gets the same answer (the service holds no state).
#
# Usage: bash bench/serve.sh MODEL_RUN_DIR [IMAGE_DIR] [REQUESTS_PER_LEVEL]
#        (defaults: ../shared/data/chest_xray_test_dev/PNEUMONIA, every image in it: 192 there;
#        a level of a few dozen requests lasts about a second, short enough for one-time costs
#        to show in the ratio)
set -euo pipefail
cd "$(dirname "$0")/.."
model="${1:?usage: bash bench/serve.sh MODEL_RUN_DIR [IMAGE_DIR] [REQUESTS]}"
images="${2:-../shared/data/chest_xray_test_dev/PNEUMONIA}"
requests="${3:-all}"

cargo build --release -p medpath --quiet
work=$(mktemp -d)
server=""
trap '[ -n "$server" ] && kill -9 "$server" 2>/dev/null; rm -rf "$work"' EXIT
ls "$images"/*.jpeg > "$work/all"
if [ "$requests" = all ]; then cp "$work/all" "$work/files"; else head -n "$requests" "$work/all" > "$work/files"; fi

# The engine alone: predict on every file in one process, and on one file; both timed without
# start-up (predict's own "inputs read and answered in S s" line, after the model is loaded).
answering() { sed -n 's/.*inputs read and answered in \([0-9.]*\) s.*/\1/p' "$1"; }
xargs target/release/medpath predict --model "$model" < "$work/files" > /dev/null 2> "$work/all.log"
all=$(answering "$work/all.log")
target/release/medpath predict --model "$model" "$(head -1 "$work/files")" > /dev/null 2> "$work/one.log"
one=$(answering "$work/one.log")
[ -n "$all" ] && [ -n "$one" ] || { echo "predict failed:"; cat "$work/all.log" "$work/one.log"; exit 1; }

serve() {
  target/release/medpath serve --model "$model" --bind 127.0.0.1:0 2> "$work/serve.log" &
  server=$!
  for _ in $(seq 100); do grep -q "listening on" "$work/serve.log" 2>/dev/null && break; sleep 0.1; done
  base=$(sed -n 's/.*listening on //p' "$work/serve.log" | head -1)
}
serve
python3 - "$base" "$work/files" "$server" "$all" "$one" <<'PY'
import concurrent.futures, json, statistics, sys, time, urllib.request
base, files, pid, all_s, one_s = sys.argv[1], open(sys.argv[2]).read().split(), sys.argv[3], float(sys.argv[4]), float(sys.argv[5])
bodies = [open(f, "rb").read() for f in files]

def post(body):
    started = time.perf_counter()
    request = urllib.request.Request(base + "/v1/predict", data=body, method="POST",
                                     headers={"Content-Type": "image/jpeg"})
    try:
        with urllib.request.urlopen(request, timeout=300) as r:
            ok = r.status == 200 and len(json.load(r)["predictions"]) == 1
    except Exception:
        ok = False
    return time.perf_counter() - started, ok

post(bodies[0])  # warm the worker
engine = len(bodies) / max(all_s, 1e-9)
print(f"predict in one process, without start-up: {engine:.2f} images/s ({len(bodies)} images in {all_s:.2f} s); one image {1000 * one_s:.0f} ms")
print("clients  requests/s  ratio to predict  p50 ms  p50 / one predict  p99 ms  failed")
for clients in (1, 4, 16):
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(post, bodies))
    wall = time.perf_counter() - started
    latencies = sorted(r[0] for r in results)
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
    failed = sum(not r[1] for r in results)
    rps = len(results) / wall
    p50 = statistics.median(latencies)
    print(f"{clients:7d}  {rps:10.2f}  {rps / engine:16.2f}  {1000 * p50:6.0f}  {p50 / one_s:17.2f}  {1000 * p99:6.0f}  {failed:6d}")
rss = [l for l in open(f"/proc/{pid}/status") if l.startswith("VmHWM")][0].split()[1]
print(f"server peak RSS: {int(rss) / 1024:.0f} MB")
PY
before=$(curl -s --data-binary @"$(head -1 "$work/files")" "$base/v1/predict")
kill -9 "$server"
serve
after=$(curl -s --data-binary @"$(head -1 "$work/files")" "$base/v1/predict")
[ "$before" = "$after" ] && echo "after kill -9 and a restart: the same answer" || { echo "answers differ after restart"; exit 1; }
