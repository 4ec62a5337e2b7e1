"""Random order over the whole data set, each rank a contiguous slice of every global batch."""

import numpy as np
from mmengine.dist import get_dist_info, sync_random_seed
from mmpretrain.registry import DATA_SAMPLERS
from torch.utils.data import Sampler

from .identity_sampler import make_rng
from .resumable import ResumableSampler
from .utils import keyed


@DATA_SAMPLERS.register_module()
class GlobalRandomSampler(ResumableSampler, Sampler):
    """Shuffled samples (random image-caption pairs of IRRA / SSAN), the same global batches at any world size.

    mmengine's ``DefaultSampler`` deals the shuffled indices to the ranks in turn (``indices[rank::W]``) and pads
    the epoch to a multiple of W, so the W per-rank batches of a step, in rank order, are neither the 1-process
    batch's order nor (after padding) its samples. Here every epoch is one permutation of the data set drawn from
    ``(seed, epoch)``; it is cut into global batches of ``world_size * batch_size`` and rank ``r`` takes rows
    ``[r * batch_size, (r + 1) * batch_size)`` of each, so gathering the ranks' rows gives the 1-process batch.
    The last incomplete global batch is dropped (as ``drop_last=True``) at any world size. Each index carries
    the seed of its sample's augmentation, keyed to its position in the 1-process order.

    Args:
        dataset: the training dataset.
        batch_size (int): the per-rank batch size (the runner sets it to total / world size).
        shuffle (bool): False keeps the data set order. Defaults to True.
        seed (int, optional): random seed; default: a seed synchronised across ranks (as DefaultSampler).
    """

    def __init__(self, dataset, batch_size=None, shuffle=True, seed=None):
        if batch_size is None or int(batch_size) <= 0:
            raise ValueError('GlobalRandomSampler needs the per-rank batch size: write sampler=dict('
                             "type='GlobalRandomSampler', batch_size=<train_dataloader.batch_size>) "
                             '(set by ReIDRunner)')
        self.rank, self.world_size = get_dist_info()
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.seed = sync_random_seed() if seed is None else seed
        self.epoch = 0
        self.global_batch = self.world_size * self.batch_size
        self.num_steps = len(dataset) // self.global_batch
        if self.num_steps == 0:
            raise ValueError(f'GlobalRandomSampler: {len(dataset)} samples in {type(dataset).__name__} do not fill '
                             f'one global batch of {self.global_batch} ({self.world_size} processes x '
                             f'{self.batch_size}); lower train_dataloader.batch_size')

    def __len__(self):
        return self.num_steps * self.batch_size

    def set_epoch(self, epoch):
        """Set the epoch, so that each epoch draws a different (but reproducible) order."""
        self.epoch = epoch

    def _iter_epoch(self):
        """The indices of the whole epoch (``iter(sampler)`` starts at :meth:`set_start_batch`)."""
        order = make_rng(self.seed, self.epoch).permutation(len(self.dataset)) if self.shuffle \
            else np.arange(len(self.dataset))
        for step in range(self.num_steps):
            start = step * self.global_batch + self.rank * self.batch_size
            yield from keyed(order[start:start + self.batch_size], self.seed, self.epoch,
                             range(start, start + self.batch_size))
