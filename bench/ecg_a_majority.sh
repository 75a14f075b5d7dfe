#!/usr/bin/env bash
# Measures how an A/L/R bundle reads atrial premature beats when they are most of a record.
# No shared record is like that, so this builds two from record 209's real signal (383 A beats,
# most in runs of supraventricular tachycardia) by splicing: every run of A beats with a few
# beats either side, cut halfway between beats and joined end to end, written as WFDB records
# (format 212, the annotations kept) with the `wfdb` package from PyPI:
#   runs:  runs of at least 4 A beats, 2 beats either side (A about nine beats in ten);
#   mixed: every A beat or run, 1 beat either side (A about six beats in ten).
# Then `medpath predict` reads record 209 itself and both splices and prints, for each, the
# record's median RR and what the A beats were answered; A beats in runs of at least 4 are also
# counted apart, since they are the same beats in all three records.
#
# RECORD=118 builds the same two splices from record 118 instead: a patient with right bundle
# branch block in every beat and 96 isolated A beats, so the "mixed" splice is A beats conducted
# with RBBB, a third of the record (its "runs" splice is empty: 118 has no run of 4 A beats).
#
# Use a bundle that never saw the record (trained with it held out), e.g. the held-out run of
# docs/results/ecg.md: `medpath run experiments/ecg_new_patients.toml --set
# "tasks.ecg.records=[...40...]" --set tasks.ecg.test_mitdb=DIR`.
#
# Usage: [RECORD=209] bash bench/ecg_a_majority.sh MODEL_DIR [MEDPATH_BINARY]
set -euo pipefail
cd "$(dirname "$0")/.."
model="${1:?usage: bash bench/ecg_a_majority.sh MODEL_DIR [MEDPATH_BINARY]}"
medpath="${2:-target/release/medpath}"
venv="${BENCH_VENV:-target/bench-venv}"
shared="${MEDPATH_SHARED:-../shared}"
record="${RECORD:-209}"
[ -x "$medpath" ] || cargo build --release -p medpath --quiet
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check wfdb
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/whole" "$work/runs" "$work/mixed"
for ext in hea dat atr; do ln -s "$(realpath "$shared/data/mitdb/$record.$ext")" "$work/whole/"; done
"$venv/bin/python" - "$shared/data/mitdb/$record" "$work" <<'PY'
import itertools, sys
import numpy as np, wfdb

source, work = sys.argv[1], sys.argv[2]
BEATS = set("NLRBAaJSVrFejnE/fQ?")
ann = wfdb.rdann(source, "atr")
symbols = [s for s in ann.symbol if s in BEATS]
samples = np.array([t for t, s in zip(ann.sample, ann.symbol) if s in BEATS])
signal = wfdb.rdrecord(source, physical=False)


def splice(name, min_run, side):
    spans, k = [], 0
    for symbol, group in itertools.groupby(symbols):
        n = len(list(group))
        if symbol == "A" and n >= min_run:
            lo, hi = max(k - side, 1), min(k + n - 1 + side, len(symbols) - 2)
            if spans and lo <= spans[-1][1] + 1:
                spans[-1] = (spans[-1][0], max(hi, spans[-1][1]))
            else:
                spans.append((lo, hi))
        k += n
    if not spans:
        return
    parts, times, kept, offset = [], [], [], 0
    for lo, hi in spans:
        start = (samples[lo - 1] + samples[lo]) // 2
        end = (samples[hi] + samples[hi + 1]) // 2
        parts.append(signal.d_signal[start:end])
        times += [samples[j] - start + offset for j in range(lo, hi + 1)]
        kept += symbols[lo : hi + 1]
        offset += end - start
    wfdb.wrsamp(name, fs=signal.fs, units=signal.units, sig_name=signal.sig_name,
                d_signal=np.concatenate(parts), fmt=signal.fmt, adc_gain=signal.adc_gain,
                baseline=signal.baseline, write_dir=f"{work}/{name}")
    wfdb.wrann(name, "atr", np.array(times), symbol=kept, write_dir=f"{work}/{name}")


splice("runs", 4, 2)
splice("mixed", 1, 1)
PY
for input in "whole/$record" runs/runs mixed/mixed; do
    [ -e "$work/$input.hea" ] || { echo "$input: no such splice (no A beats of that kind)"; continue; }
    "$medpath" predict --model "$model" "$work/$input" >"$work/answers.csv" 2>"$work/summary.txt"
    "$venv/bin/python" - "$work/$input" "$work/answers.csv" <<'PY'
import csv, itertools, sys
from collections import Counter
import numpy as np, wfdb

record, answers = sys.argv[1], sys.argv[2]
ann = wfdb.rdann(record, "atr")
beats = [t for t, s in zip(ann.sample, ann.symbol) if s in set("NLRBAaJSVrFejnE/fQ?")]
median_rr = float(np.median(np.diff(beats))) / 360.0
rows = list(csv.DictReader(open(answers)))
symbols = [r["annotation"] for r in rows]
every, in_runs, k = Counter(), Counter(), 0
for symbol, group in itertools.groupby(symbols):
    n = len(list(group))
    if symbol == "A":
        for r in rows[k : k + n]:
            answer = r["class"] or "rejected"
            every[answer] += 1
            if n >= 4:
                in_runs[answer] += 1
    k += n
share = sum(every.values()) / len(rows)
recall = lambda c: 100.0 * c["A"] / max(sum(c.values()), 1)
print(f"{record.split('/')[-1]:>6}: {len(rows)} beats, A {100 * share:.0f} %, median RR "
      f"{median_rr:.3f} s; A beats answered {dict(every)} (A recall {recall(every):.1f} %); "
      f"in runs of 4 or more {dict(in_runs)} ({recall(in_runs):.1f} %)")
PY
done
