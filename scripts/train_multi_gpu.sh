#!/usr/bin/env bash
# Train on every GPU of this machine (tf.distribute.MirroredStrategy).
#
#   scripts/train_multi_gpu.sh OUT [gancli flags...]
#   scripts/train_multi_gpu.sh runs/mnist-4gpu --batch_size 256 --epochs 100
#   GPUS=0,1 scripts/train_multi_gpu.sh runs/mnist-2gpu --batch_size 128
#
# --batch_size is the GLOBAL batch: each of N GPUs gets batch_size / N rows, so it must
# divide evenly (log.txt's first line shows the split). Env: GPUS (which GPUs, default
# all), GANCLI_COMMAND (default train-mnist), GANCLI (default "gancli"). See docs/gpu.md.
set -euo pipefail

if [[ $# -lt 1 || $1 == -* ]]; then
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2
    exit 2
fi
OUT=$1
shift

if [[ -n ${GPUS:-} ]]; then
    export CUDA_VISIBLE_DEVICES=$GPUS
fi
# shellcheck disable=SC2086  # GANCLI may be "python -m gancli"
exec ${GANCLI:-gancli} "${GANCLI_COMMAND:-train-mnist}" --strategy mirrored --out "$OUT" "$@"
