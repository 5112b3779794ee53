#!/usr/bin/env bash
# Train on several machines (tf.distribute.MultiWorkerMirroredStrategy): run the SAME
# command on every machine, each with its own INDEX (0 is the chief, which writes OUT).
#
#   WORKERS=10.0.0.1:23456,10.0.0.2:23456 INDEX=0 scripts/train_multiworker.sh OUT [flags...]
#   WORKERS=10.0.0.1:23456,10.0.0.2:23456 INDEX=1 scripts/train_multiworker.sh OUT [flags...]
#
# Try it on one machine: LOCAL=2 starts 2 workers on 127.0.0.1 (ports from BASE_PORT,
# default 23456) and waits for both:
#   LOCAL=2 GANCLI_COMMAND=train-dist scripts/train_multiworker.sh runs/try --steps 200
#
# --batch_size is the GLOBAL batch over all GPUs of all workers. Use the same flags, a
# fixed --seed and the same gancli/TensorFlow version everywhere; --resume needs OUT on a
# shared filesystem. Env: WORKERS, INDEX, LOCAL, BASE_PORT, GANCLI_COMMAND (default
# train-mnist), GANCLI (default "gancli"). See docs/gpu.md.
set -euo pipefail

if [[ $# -lt 1 || $1 == -* ]]; then
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2
    exit 2
fi
OUT=$1
shift

if [[ -n ${LOCAL:-} ]]; then
    port=${BASE_PORT:-23456}
    workers=""
    for ((i = 0; i < LOCAL; i++)); do
        workers+="${workers:+,}127.0.0.1:$((port + i))"
    done
    pids=()
    for ((i = 0; i < LOCAL; i++)); do
        LOCAL="" WORKERS=$workers INDEX=$i "$0" "$OUT" "$@" &
        pids+=($!)
    done
    trap 'kill "${pids[@]}" 2>/dev/null || true' INT TERM
    status=0
    for pid in "${pids[@]}"; do
        wait "$pid" || status=$?
    done
    exit "$status"
fi

: "${WORKERS:?set WORKERS=host:port,host:port,... (the same list on every machine)}"
: "${INDEX:?set INDEX to the position of this machine in WORKERS (0 = chief)}"
IFS=, read -ra hosts <<<"$WORKERS"
list=$(printf '"%s",' "${hosts[@]}")
export TF_CONFIG="{\"cluster\": {\"worker\": [${list%,}]}, \"task\": {\"type\": \"worker\", \"index\": $INDEX}}"
# shellcheck disable=SC2086  # GANCLI may be "python -m gancli"
exec ${GANCLI:-gancli} "${GANCLI_COMMAND:-train-mnist}" --strategy multiworker --out "$OUT" "$@"
