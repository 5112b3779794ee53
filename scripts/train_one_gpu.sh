#!/usr/bin/env bash
# Train on one GPU (or the CPU when there is none).
#
#   scripts/train_one_gpu.sh OUT [gancli flags...]
#   scripts/train_one_gpu.sh runs/mnist --epochs 100 --batch_size 64
#   GPU=1 scripts/train_one_gpu.sh runs/mnist-gpu1            # pick the second GPU
#   GANCLI_COMMAND=train-dist scripts/train_one_gpu.sh runs/normal --steps 30000
#
# Env: GPU (index to use, default 0), GANCLI_COMMAND (default train-mnist),
#      GANCLI (how to run gancli, default "gancli"). See docs/gpu.md.
set -euo pipefail

if [[ $# -lt 1 || $1 == -* ]]; then
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2
    exit 2
fi
OUT=$1
shift

export CUDA_VISIBLE_DEVICES=${GPU:-0}
# shellcheck disable=SC2086  # GANCLI may be "python -m gancli"
exec ${GANCLI:-gancli} "${GANCLI_COMMAND:-train-mnist}" --strategy one_device --out "$OUT" "$@"
