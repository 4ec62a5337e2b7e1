"""EpochSeedHook: reseed the global RNGs at every epoch, so that a resumed run replays the uninterrupted one."""
import random

import numpy as np
import torch
from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS


def epoch_seed(seed: int, epoch: int) -> int:
    """A 32-bit seed that depends only on ``(seed, epoch)`` (SeedSequence mixing: neighbouring epochs differ)."""
    return int(np.random.SeedSequence([int(seed) % 2**32, int(epoch)]).generate_state(1)[0])


@HOOKS.register_module()
class EpochSeedHook(Hook):
    """Seed ``random``, ``numpy`` and ``torch`` from ``(runner.seed, epoch)`` before every training epoch.

    MMEngine seeds the global RNGs once, when the Runner is built, and does not save their state in checkpoints.
    The data augmentations (``RandomFlip``, ``RandomCrop``, ... in the main process with ``num_workers=0``),
    dropout and the DataLoader's worker base seed all draw from these RNGs, so after ``--resume`` epoch ``k+1``
    would see other random draws than in the uninterrupted run (the samplers are not affected: they seed their
    own generator from ``(seed, epoch)``). Reseeding at the start of every epoch makes each epoch's randomness a
    function of ``(seed, epoch)`` only, whatever happened before, so an epoch-based run resumed from
    ``epoch_k.pth`` ends with the same weights as one that was never interrupted.

    ``runner.seed`` already includes the rank offset when ``randomness.diff_rank_seed`` is set. The priority
    ``LOWEST`` makes this the last ``before_train_epoch`` action, right before the data loader iterator starts.

    Args:
        enable (bool): False switches the hook off (``--cfg-options default_hooks.epoch_seed.enable=False``).
            Defaults to True.
    """

    priority = 'LOWEST'

    def __init__(self, enable: bool = True):
        self.enable = enable

    def before_train_epoch(self, runner) -> None:
        if not self.enable:
            return
        seed = epoch_seed(runner.seed, runner.epoch)
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)  # also seeds every CUDA device
