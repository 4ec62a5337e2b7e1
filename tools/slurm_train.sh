#!/usr/bin/env bash
# Usage: [GPUS=8] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG [WORK_DIR] [train.py args]
#
# Preemption (README "Reliability"): on SIGTERM (Slurm's preemption, scancel) or SIGUSR1 every task finishes its
# iteration, rank 0 writes WORK_DIR/preempted.pth (and last_checkpoint), and every task exits with code 143
# (SIGTERM) or 75 (SIGUSR1); a run that wrote a new preempted.pth counts as preempted whatever srun reports;
# `--resume` continues at the next batch. srun gets `--signal=USR1@120` (override with SIGNAL=...): 120 s before
# the time limit each task gets SIGUSR1, which leaves time to save. A `kill -9` (or the end of Slurm's GraceTime /
# KillWait after SIGTERM) cannot be caught: that run resumes from its last epoch checkpoint.
#
# Requeue: inside a batch job (sbatch --requeue ... wrapping this script) a preempted run (exit code 75, or a new
# preempted.pth: SIGTERM's 143, srun's code after --kill-on-bad-exit) requeues the job with
# `scontrol requeue $SLURM_JOB_ID`; the requeued job (SLURM_RESTART_COUNT > 0) adds `--resume` by itself. Outside
# a batch job (srun from a login node cannot be requeued) the script prints the command that resumes. With
# PreemptMode=REQUEUE the cluster requeues preempted jobs itself. REQUEUE=0 switches the requeue off.
set -x
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
WORK_DIR=${4:-work_dirs/$(basename "$CONFIG" .py)}
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}
SIGNAL=${SIGNAL:-USR1@120}
REQUEUE=${REQUEUE:-1}
PREEMPTED=75  # plugins/core/hooks/preemption_hook.py: PREEMPTED_EXIT_CODE
PY_ARGS=${@:5}
if [[ "${SLURM_RESTART_COUNT:-0}" -gt 0 && " ${PY_ARGS} " != *" --resume"* ]]; then
    PY_ARGS="${PY_ARGS} --resume"  # a requeued job continues from WORK_DIR/last_checkpoint
fi

STARTED=$(mktemp)  # a preempted.pth newer than this file was written by this run

PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH \
srun -p "${PARTITION}" \
    --job-name="${JOB_NAME}" \
    --gres=gpu:"${GPUS_PER_NODE}" \
    --ntasks="${GPUS}" \
    --ntasks-per-node="${GPUS_PER_NODE}" \
    --cpus-per-task="${CPUS_PER_TASK}" \
    --kill-on-bad-exit=1 \
    --signal="${SIGNAL}" \
    ${SRUN_ARGS} \
    python -u tools/train.py "${CONFIG}" --work-dir="${WORK_DIR}" --launcher="slurm" ${PY_ARGS}
RC=$?
# --kill-on-bad-exit may end the last tasks before their own exit 75 (srun then reports another code): the new
# checkpoint is what tells a preemption stop from a crash
if [[ ${RC} -ne 0 && "${WORK_DIR}/preempted.pth" -nt "${STARTED}" ]]; then
    RC=${PREEMPTED}
fi
rm -f "${STARTED}"

if [[ ${RC} -eq ${PREEMPTED} ]]; then
    if [[ "${REQUEUE}" == 1 && -n "${SLURM_JOB_ID}" ]] && scontrol requeue "${SLURM_JOB_ID}"; then
        echo "preempted: checkpoint in ${WORK_DIR}; job ${SLURM_JOB_ID} requeued (it resumes with --resume)"
    else
        echo "preempted: checkpoint in ${WORK_DIR}; resume with: bash $0 $1 $2 $3 ${WORK_DIR} ${*:5} --resume"
    fi
fi
exit ${RC}
