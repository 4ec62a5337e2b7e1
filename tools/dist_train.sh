#!/usr/bin/env bash
# Usage: bash tools/dist_train.sh CONFIG NUM_PROCS [train.py args]
# One process per GPU (nccl), or NUM_PROCS CPU processes (gloo) on a machine without CUDA.
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR and PORT.
# SIGTERM / SIGUSR1 to the workers (torchrun passes its own SIGTERM on, then kills after 30 s): each finishes its
# iteration, rank 0 writes WORK_DIR/preempted.pth and last_checkpoint, each exits with code 75
# (plugins/core/hooks/preemption_hook.py), and so does this script (torchrun itself exits 1 then: rank 0 tells
# this script through the file REID_PREEMPTED_FILE). Resume with the same command and --resume: it continues at
# the next batch. kill -9 loses the epoch in progress.
CONFIG=$1
NPROCS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}

REID_PREEMPTED_FILE="$(mktemp)"
export REID_PREEMPTED_FILE
trap 'rm -f "$REID_PREEMPTED_FILE"' EXIT

PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH \
OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} \
python -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$NPROCS" \
    --master_port="$PORT" \
    "$(dirname "$0")"/train.py \
    "$CONFIG" \
    --launcher pytorch "${@:3}"
RC=$?
if [[ -s "$REID_PREEMPTED_FILE" ]]; then
    cat "$REID_PREEMPTED_FILE" >&2
    exit 75  # PREEMPTED_EXIT_CODE: checkpoint saved, resume with --resume
fi
exit $RC
