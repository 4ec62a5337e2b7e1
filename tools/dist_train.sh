#!/usr/bin/env bash
# Usage: bash tools/dist_train.sh CONFIG NUM_PROCS [train.py args]
# One process per GPU (nccl), or NUM_PROCS CPU processes (gloo) on a machine without CUDA.
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR and PORT.
# Ctrl-C, SIGTERM or SIGUSR1 to the workers (torchrun passes its own SIGINT / SIGTERM on, then kills after 30 s):
# each finishes its iteration, rank 0 writes WORK_DIR/preempted.pth and last_checkpoint, each exits with code 130
# (SIGINT), 143 (SIGTERM) or 75 (SIGUSR1) (plugins/core/hooks/preemption_hook.py), and so does this script
# (torchrun itself exits 1 then: rank 0 tells this script through the file REID_PREEMPTED_FILE). Resume with the
# same command and --resume: it continues at the next batch. kill -9 loses the epoch in progress.
CONFIG=$1
NPROCS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}

# torchrun without its own traceback and per-rank summary (each rank prints its error itself: rank 0 in full, the
# others in one line, tools/train.py `run_on_rank`): one line names the first failed rank and its exit code
TORCHRUN='
import sys
from torch.distributed.elastic.multiprocessing.api import SignalException
from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
from torch.distributed.run import parse_args, run
try:
    run(parse_args(sys.argv[1:]))
except ChildFailedError as e:
    rank, failure = e.get_first_failure()
    print(f"dist_train.sh: {len(e.failures)} of the processes failed, first rank {rank} (exit code "
          f"{failure.exitcode}); its error is printed above", file=sys.stderr)
    sys.exit(1)
except SignalException as e:
    sys.exit(128 + int(e.sigval))
'

REID_PREEMPTED_FILE="$(mktemp)"
export REID_PREEMPTED_FILE
trap 'rm -f "$REID_PREEMPTED_FILE"' EXIT

PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH \
OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} \
python -c "$TORCHRUN" \
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
    # checkpoint saved, resume with --resume: the workers' exit code (130 SIGINT, 143 SIGTERM, 75 SIGUSR1)
    CODE=$(sed -n 's/.*(exit \([0-9]*\)).*/\1/p' "$REID_PREEMPTED_FILE" | head -n 1)
    exit "${CODE:-75}"
fi
exit $RC
