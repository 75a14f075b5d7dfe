#!/usr/bin/env bash
# Measures how a trained model treats real pictures of no task: photographs, a page of text,
# histology, retinal images, astronomy (the sample images shipped inside scikit-image's wheel)
# and CT, MR and ultrasound slices (the test files shipped inside pydicom's wheel), with
# `medpath predict --json`. Nothing is downloaded but the two packages from PyPI. Prints one row
# per picture (rejected or not, and with what) and the share accepted.
#
# Usage: bash bench/ood_real.sh RUN_DIR [MEDPATH_BINARY]
set -euo pipefail
cd "$(dirname "$0")/.."
run="${1:?usage: bash bench/ood_real.sh RUN_DIR [MEDPATH_BINARY]}"
medpath="${2:-target/release/medpath}"
venv="${BENCH_VENV:-target/bench-venv}"
[ -x "$medpath" ] || cargo build --release -p medpath --quiet
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check scikit-image pydicom
pictures=$(mktemp -d)
"$venv/bin/python" - "$pictures" <<'PY'
import os, shutil, sys
import pydicom, skimage
out = sys.argv[1]
photos = os.path.join(os.path.dirname(skimage.__file__), "data")
for name in ["astronaut.png", "brick.png", "camera.png", "cell.png", "chelsea.png", "coffee.png",
             "coins.png", "color.png", "grass.png", "gravel.png", "horse.png", "hubble_deep_field.jpg",
             "ihc.png", "logo.png", "microaneurysms.png", "moon.png", "motorcycle_left.png",
             "page.png", "phantom.png", "retina.jpg", "rocket.jpg", "text.png"]:
    shutil.copy(os.path.join(photos, name), os.path.join(out, name))
dicoms = os.path.join(os.path.dirname(pydicom.__file__), "data", "test_files")
for name in ["CT_small.dcm", "MR_small.dcm", "liver_1frame.dcm",
             "examples_ybr_color.dcm", "examples_rgb_color.dcm", "US1_J2KR.dcm"]:
    path = os.path.join(dicoms, name)
    if os.path.exists(path):
        shutil.copy(path, os.path.join(out, name))
PY
"$medpath" predict --model "$run" --json "$pictures"/* > "$pictures/predictions.json" 2> "$pictures/stderr.txt" || true
python3 - "$pictures/predictions.json" "$pictures/stderr.txt" <<'PY'
import json, os, sys
text = open(sys.argv[1]).read()
if not text.strip():
    sys.exit("predict wrote nothing: " + open(sys.argv[2]).read())
doc = json.loads(text)
rows = doc["predictions"]
print("| picture | answer |")
print("|---|---|")
accepted = 0
for r in rows:
    name = os.path.basename(r["input"])
    if r.get("rejected"):
        answer = "rejected: " + str(r["rejected"].get("reason", r["rejected"]))
    elif r.get("error"):
        answer = "unreadable: " + r["error"]
    else:
        accepted += 1
        answer = f'accepted: {r["task"]} {r["class"]} {r.get("probability", "")}'
    print(f"| {name} | {answer} |")
print(f"\n{accepted} of {len(rows)} accepted")
PY
