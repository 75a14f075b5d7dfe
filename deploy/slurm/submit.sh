#!/bin/bash
# bash deploy/slurm/submit.sh N: N encode shards at once (a job array), then one training job that
# starts when every shard has succeeded. MEDPATH_EXPERIMENT and MEDPATH_CACHE travel with
# --export=ALL; set them first.
set -euo pipefail
shards=${1:?usage: submit.sh NUMBER_OF_SHARDS}
here=$(dirname "$0")
array=$(sbatch --parsable --export=ALL --array=1-"$shards" "$here/encode.sbatch")
sbatch --export=ALL --dependency=afterok:"${array%%;*}" "$here/train.sbatch"
