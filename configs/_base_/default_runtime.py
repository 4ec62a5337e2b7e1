# Runtime shared by every config of the plugin (mmpretrain's default runtime + the ReID pieces).
default_scope = 'mmpretrain'
# `plugins.mmengine_patches` registers the plugin and applies plugins.core.utils.apply_mmengine_patches() (resume
# under torch >= 2.6, atomic checkpoint writes) whatever the launcher: mim, mmpretrain's or this repository's tools.
custom_imports = dict(imports=['plugins.mmengine_patches'], allow_failed_imports=False)

# N processes train the 1-process run (README "Batch and learning rate on N GPUs"): train_dataloader.batch_size is
# the TOTAL batch, split over the processes by ReIDRunner; batch-level losses and BatchNorm see the global batch.
runner_type = 'ReIDRunner'
batch_size_mode = 'total'  # 'per_process': the batch on every process (N x the total, lr x N by auto_scale_lr)
sync_bn = 'torch'  # BatchNorm over the global batch: SyncBatchNorm on CUDA, GlobalBatchNorm without CUDA

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # keep the last 3 epochs; a config that validates on a validation split adds save_best='R1' (model_selection)
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='VisualizationHook', enable=False),
    # The plugin's hooks are switched off like mmpretrain's VisualizationHook: `default_hooks.finite_loss.enable=False`
    # (mmengine accepts `default_hooks.<name>=None` only for its own six default hooks).
    # stop at the first NaN/Inf loss term (priority ABOVE_NORMAL: before CheckpointHook can save broken weights)
    finite_loss=dict(type='FiniteLossHook'),
    # reseed the global RNGs (augmentations, dropout) from (seed, epoch): a resumed run replays the uninterrupted one
    epoch_seed=dict(type='EpochSeedHook'),
    # a checkpoint of another model is an error, not metrics of a mostly random model (see `load_strict`)
    strict_load=dict(type='StrictLoadHook'),
    # one training run per work dir (lock .run.lock naming its PID); removes temporary files of killed writers;
    # warns when --resume finds nothing to resume
    work_dir_lock=dict(type='WorkDirLockHook'),
    # one line for the optimizer's parameter groups (MMEngine's per-parameter lines are lowered to DEBUG)
    optimizer_summary=dict(type='OptimizerSummaryHook'),
    # logs, checks and records (checkpoint meta, tools/test.py --out) which rule chose the tested checkpoint
    model_selection=dict(type='ModelSelectionHook'),
    # Ctrl-C / SIGTERM / SIGUSR1 (Slurm preemption, `--signal=USR1@120`): every process finishes its iteration,
    # rank 0 saves <work_dir>/preempted.pth, exit code 130 / 143 / 75; `--resume` continues at the next batch and
    # removes it once a newer checkpoint exists (README "Reliability")
    preemption=dict(type='PreemptionHook'),
)

# Which checkpoint is tested (plugins/core/hooks/model_selection_hook.py): 'last' (the data sets without a validation
# split: their validation runs on the test split and only draws curves), 'val' (best on the validation split, then
# tested on the test split: CUHK-PEDES, RSTPReid), 'test' (best on the test split, the papers' code rule: a warning)
model_selection = 'last'

# The loop of `train_cfg = dict(by_epoch=True, ...)` (MMEngine's spelling, no `type`; the schedules define
# train_cfg): ReIDRunner builds this one, which resumes in the middle of an epoch at the next batch
# (plugins.core.loops). None: MMEngine's EpochBasedTrainLoop (a mid-epoch checkpoint then restarts its epoch).
epoch_loop = 'ReIDEpochBasedTrainLoop'

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # mmengine's backend for GPUs with any launcher; on a machine without CUDA, tools/dist_train.sh switches to
    # gloo (plugins.core.utils.setup_cpu_distributed: mmengine 0.10 cannot run distributed without CUDA).
    dist_cfg=dict(backend='nccl'),
)

# TensorBoard is available: add dict(type='TensorboardVisBackend') to vis_backends (or use
# configs/_base_/tensorboard.py) to get per-loss curves.
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='UniversalVisualizer', vis_backends=vis_backends)

log_processor = dict(by_epoch=True, window_size=20)
log_level = 'INFO'
load_from = None
resume = False
# missing / unexpected keys or other shapes when loading a checkpoint are an error (StrictLoadHook, ReIDInferencer,
# tools): `--cfg-options load_strict=False` loads partially on purpose (the rest keeps its initialisation)
load_strict = True
randomness = dict(seed=0, deterministic=False)
