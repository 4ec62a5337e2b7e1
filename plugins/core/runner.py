"""``ReIDRunner``: a config's training batch is the total over all processes, BatchNorm runs over it.

Every config of the plugin names it (``runner_type = 'ReIDRunner'`` in ``configs/_base_/default_runtime.py``), so
this repository's ``tools/train.py``, ``tools/dist_train.sh``, mmpretrain's own ``tools/train.py`` and
``mim train`` all build it (MMEngine builds ``RUNNERS.build(cfg)`` when a config has ``runner_type``).
"""
import copy
import inspect

import torch
from mmengine.registry import RUNNERS
from mmpretrain.registry import DATA_SAMPLERS
from mmengine.runner import Runner

from . import distributed
from .hooks.model_selection_hook import apply_model_selection
from .hooks.work_dir_lock_hook import lock_for_training
from .utils.runtime import finish_distributed_at_exit, setup_cpu_distributed

#: ``batch_size_mode`` values: the paper's total split over the processes, or the paper batch on every process
BATCH_SIZE_MODES = ('total', 'per_process')


def sampler_batch_multiple(sampler_cfg):
    """What a per-rank batch must be a multiple of for the sampler of ``sampler_cfg`` (K for identity samplers,
    2K for the cross-modality one, 1 otherwise)."""
    sampler_type = (sampler_cfg or {}).get('type')
    sampler_cls = DATA_SAMPLERS.get(sampler_type) if isinstance(sampler_type, str) else sampler_type
    rule = getattr(sampler_cls, 'batch_multiple', None)
    if rule is None:
        return 1
    return rule(**{k: v for k, v in sampler_cfg.items() if k != 'type'})


def split_total_batch(loader_cfg, world_size):
    """The per-process batch of a total ``train_dataloader.batch_size`` at ``world_size`` processes.

    Args:
        loader_cfg (dict): the ``train_dataloader`` config (``batch_size`` = the total batch).
        world_size (int): number of processes.

    Returns:
        int: ``batch_size // world_size``.

    Raises:
        ValueError: the total does not divide into equal per-process batches that the sampler accepts; the
            message names the key, the world size and the valid choices.
    """
    total = int(loader_cfg['batch_size'])
    multiple = sampler_batch_multiple(loader_cfg.get('sampler'))
    if total % (world_size * multiple) == 0:
        return total // world_size
    sizes = [w for w in range(1, 65) if total % (w * multiple) == 0]
    totals = [world_size * multiple * n for n in range(1, 5)]
    unit = f' (a multiple of {multiple} per process: {loader_cfg["sampler"]["type"]})' if multiple > 1 else ''
    raise ValueError(
        f'train_dataloader.batch_size={total} is the total batch over all processes (batch_size_mode="total") and '
        f'must split into {world_size} equal per-process batches{unit}. Valid numbers of processes for this total: '
        f'{sizes}; valid totals for {world_size} processes: {", ".join(map(str, totals))}, ...; or '
        f'--cfg-options batch_size_mode=per_process (the paper batch on every process, lr scaled)')


@RUNNERS.register_module()
class ReIDRunner(Runner):
    """MMEngine's Runner, with the training batch of a config meaning the **total** over all processes.

    * ``batch_size_mode='total'`` (default): ``train_dataloader.batch_size`` is the global batch; at W processes
      each gets ``batch_size / W`` (the sampler's ``batch_size`` too), and the plugin's samplers give the ranks
      contiguous slices of the 1-process batch. With the batch-level losses and BatchNorm computed over the
      global batch (:mod:`plugins.core.distributed`), W processes take the 1-process step; ``auto_scale_lr``
      (base = the paper's total) then leaves the lr at the paper's value.
    * ``batch_size_mode='per_process'``: MMEngine's meaning (the batch on every process, W times the total);
      ``auto_scale_lr`` scales the lr by W. More throughput, not the paper's run.

    BatchNorm: with ``sync_bn='torch'`` a distributed run uses ``torch.nn.SyncBatchNorm`` on CUDA and
    :class:`~plugins.core.distributed.GlobalBatchNorm` without CUDA (SyncBatchNorm refuses CPU tensors);
    ``sync_bn='global'`` uses ``GlobalBatchNorm`` on any device (exact under CASN's batched Grad-CAM gradients).
    """

    @classmethod
    def from_cfg(cls, cfg):
        """Build from a config; on a machine without CUDA a ``launcher='pytorch'`` run starts a gloo group first.

        MMEngine's own initialisation needs CUDA (see :func:`~plugins.core.utils.setup_cpu_distributed`). Doing
        it here, not only in this repository's launchers, lets mmpretrain's ``tools/train.py`` / ``mim train``
        start N CPU processes too: they build the runner through ``RUNNERS.build(cfg)`` -> ``from_cfg``.
        """
        setup_cpu_distributed(cfg)
        return super().from_cfg(cfg)

    def __init__(self, *args, **kwargs):
        cfg = kwargs.get('cfg') or {}
        if cfg and apply_model_selection(cfg) == 'test':  # validation on the test data (the papers' code rule)
            kwargs.update(val_dataloader=cfg.get('val_dataloader'), val_evaluator=cfg.get('val_evaluator'))
        mode = cfg.get('batch_size_mode', 'total')
        if mode not in BATCH_SIZE_MODES:  # before the model is built: a config error costs no model build
            raise ValueError(f'batch_size_mode={mode!r}: expected one of {BATCH_SIZE_MODES}')
        loader = kwargs.get('train_dataloader')
        if mode == 'total' and isinstance(loader, dict) and 'batch_size' in loader:
            split_total_batch(loader, distributed.world_size())  # again with the final world size below
        if self._trains(kwargs):
            # before MMEngine writes the config copy and the timestamped log folder: a refused run writes nothing
            # (also under mmpretrain's tools/train.py and `mim train`, which build this runner)
            lock_for_training(kwargs['work_dir'], kwargs.get('launcher', 'none'))
        super().__init__(*args, **kwargs)
        randomness = self._randomness_cfg if isinstance(getattr(self, '_randomness_cfg', None), dict) else {}
        offset = self.rank if randomness.get('diff_rank_seed') else 0
        distributed.set_shared_seed(self.seed - offset)
        if isinstance(self._train_dataloader, dict) and 'batch_size' in self._train_dataloader:
            self._train_dataloader = self._resolve_batch(copy.deepcopy(self._train_dataloader), mode)

    def train(self):
        model = super().train()
        finish_distributed_at_exit()  # see there: `mim train` ends here without destroying its process group
        return model

    def test(self):
        metrics = super().test()
        finish_distributed_at_exit()
        return metrics

    @staticmethod
    def _trains(kwargs):
        """Whether the run being built will train (it locks its work dir first): a training config, and ``resume``
        or nothing to load. A run that loads a checkpoint without resuming is a test (``tools/test.py``, which
        must not lock: testing the checkpoint of a running training is normal) or a fine-tuning start, whose
        ``WorkDirLockHook`` locks at ``before_train``; ``tools/train.py`` locks every training run itself."""
        return bool(kwargs.get('work_dir') and kwargs.get('train_dataloader') is not None
                    and kwargs.get('train_cfg') is not None and (kwargs.get('resume') or not kwargs.get('load_from')))

    def build_train_loop(self, loop):
        """``train_cfg = dict(by_epoch=True, ...)`` (no ``type``) builds the config's ``epoch_loop``
        (``configs/_base_/default_runtime.py``: ``ReIDEpochBasedTrainLoop``, which resumes mid-epoch)."""
        epoch_loop = self.cfg.get('epoch_loop')
        if epoch_loop and isinstance(loop, dict) and 'type' not in loop and loop.get('by_epoch'):
            loop = dict({k: v for k, v in loop.items() if k != 'by_epoch'}, type=epoch_loop)
        return super().build_train_loop(loop)

    def _resolve_batch(self, loader_cfg, mode):
        total = int(loader_cfg['batch_size'])
        per_process = split_total_batch(loader_cfg, self.world_size) if mode == 'total' else total
        loader_cfg['batch_size'] = per_process
        sampler_cfg = loader_cfg.get('sampler') or {}
        sampler_cls = DATA_SAMPLERS.get(sampler_cfg['type']) if isinstance(sampler_cfg.get('type'), str) else None
        if sampler_cls is not None and 'batch_size' in inspect.signature(sampler_cls.__init__).parameters:
            sampler_cfg['batch_size'] = per_process  # mmengine does not pass the batch size to samplers
        self.logger.info(f'Training batch ({mode}): {self.world_size} process(es) x {per_process} = '
                         f'{self.world_size * per_process} samples per step')
        return loader_cfg

    def wrap_model(self, model_wrapper_cfg, model):
        sync_bn = self.cfg.get('sync_bn', None)
        if not self.distributed or sync_bn not in ('torch', 'global'):
            return super().wrap_model(model_wrapper_cfg, model)
        if sync_bn == 'global' or not torch.cuda.is_available():
            model = distributed.convert_global_batchnorm(model)
            self.logger.info('BatchNorm over the global batch: GlobalBatchNorm (plugins.core.distributed)')
            self.cfg.sync_bn = None  # MMEngine would convert again to torch.nn.SyncBatchNorm
            try:
                return super().wrap_model(model_wrapper_cfg, model)
            finally:
                self.cfg.sync_bn = sync_bn
        return super().wrap_model(model_wrapper_cfg, model)
