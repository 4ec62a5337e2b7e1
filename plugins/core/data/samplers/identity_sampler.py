"""P identities x K instances per batch (the sampler behind batch-hard triplet losses)."""
import math

import numpy as np
from mmengine.dist import get_dist_info, sync_random_seed
from mmpretrain.registry import DATA_SAMPLERS
from torch.utils.data import Sampler

from .resumable import ResumableSampler
from .utils import group_indices_by_label, identities_per_rank, keyed, read_data_infos


def make_rng(seed, epoch):
    """A numpy Generator that depends only on ``(seed, epoch)``, identical on every rank."""
    return np.random.default_rng(np.random.SeedSequence([int(seed) % 2**32, int(epoch)]))


def draw_instances(indices, num, rng, shuffle):
    """``num`` of ``indices``: without replacement when there are enough, with replacement otherwise."""
    indices = np.asarray(indices)
    if not shuffle:
        return np.resize(indices, num)  # deterministic: the first ones, cycling when too few
    return rng.choice(indices, num, replace=len(indices) < num)


@DATA_SAMPLERS.register_module()
class IdentitySampler(ResumableSampler, Sampler):
    """Sample batches of P identities x K images (torchreid's ``RandomIdentitySampler``), distributed-aware.

    Every epoch each identity's images are shuffled and cut into chunks of K (an identity with fewer than K
    images gives one chunk drawn with replacement; a remainder smaller than K is dropped, as in torchreid).
    A *step* draws ``world_size * P`` **distinct** identities and rank ``r`` takes identities
    ``[r*P, (r+1)*P)`` of it, so the ranks of one step never share an identity and every per-rank batch is
    ``P*K`` samples laid out identity-major (``K`` consecutive samples of the same id).

    Identities are drawn with probability proportional to their remaining chunks, and an identity whose
    remaining chunks equal the remaining steps is always taken; this guarantees that **every chunk (so every
    identity) is used in every epoch** with a length fixed in advance:
    ``num_steps = max(ceil(total_chunks / (world_size * P)), max_chunks_of_one_id)``. When fewer identities
    with chunks are left than a step needs, it is completed with fresh chunks of other identities. The epoch
    length is therefore about the dataset size (divided by the world size, per rank), like DefaultSampler.

    All randomness comes from ``(seed, epoch)`` (mmengine calls :meth:`set_epoch`), identical on every rank, so
    the ranks' batches of one step, in rank order, are the 1-process batch of ``world_size * batch_size``
    samples in its order. Each index carries the seed of its sample's augmentation, keyed to its position in
    that 1-process order (:class:`~plugins.core.data.samplers.utils.KeyedIndex`).

    Args:
        dataset: the training dataset; identities are read once from ``get_data_info(i)['gt_label']``.
        num_instances (int): K, images per identity in a batch. Default 4.
        batch_size (int): the **per-rank** batch size, i.e. ``train_dataloader.batch_size`` = P*K; P is
            derived from it. Required (mmengine does not pass the batch size to samplers).
        shuffle (bool): False gives a deterministic order (ids ascending, images in dataset order).
        seed (int, optional): random seed; default: a seed synchronised across ranks (as DefaultSampler).
    """

    @staticmethod
    def batch_multiple(num_instances=4, **kwargs):
        """What a per-rank batch must be a multiple of (K)."""
        return int(num_instances)

    def __init__(self, dataset, num_instances=4, batch_size=None, shuffle=True, seed=None):
        self.rank, self.world_size = get_dist_info()
        self.dataset = dataset
        self.num_instances = int(num_instances)
        self.num_identities = identities_per_rank(batch_size, self.num_instances, 'IdentitySampler')
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.seed = sync_random_seed() if seed is None else seed
        self.epoch = 0

        labels = read_data_infos(dataset, ('gt_label', ))['gt_label']
        self.index_by_pid = group_indices_by_label(labels)
        self.pids = np.array(list(self.index_by_pid), dtype=np.int64)
        self.ids_per_step = self.world_size * self.num_identities
        if len(self.pids) < self.ids_per_step:
            raise ValueError(f'IdentitySampler: {len(self.pids)} identities in {type(dataset).__name__}, but a step '
                             f'needs {self.ids_per_step} distinct ones (P={self.num_identities} per rank x '
                             f'{self.world_size} ranks); lower batch_size or num_instances')
        self.chunks_per_pid = np.array(
            [max(len(idx), self.num_instances) // self.num_instances for idx in self.index_by_pid.values()])
        self.num_steps = max(math.ceil(self.chunks_per_pid.sum() / self.ids_per_step), int(self.chunks_per_pid.max()))

    def __len__(self):
        return self.num_steps * self.batch_size

    def set_epoch(self, epoch):
        """Set the epoch, so that each epoch draws a different (but reproducible) order."""
        self.epoch = epoch

    def _iter_epoch(self):
        """The indices of the whole epoch (``iter(sampler)`` starts at :meth:`set_start_batch`)."""
        rng = make_rng(self.seed, self.epoch)
        chunks = [self._cut_chunks(self.index_by_pid[pid], rng) for pid in self.pids]
        remaining = np.array([len(c) for c in chunks])
        first = self.rank * self.num_identities
        for step in range(self.num_steps):
            selected = self._select_step(remaining, self.num_steps - step, rng)
            # every rank walks through all identities of the step in the same order, so that the chunk
            # queues and the random state stay identical on all ranks; it keeps only its own P identities
            step_chunks = []
            for position in selected:
                if remaining[position] > 0:
                    remaining[position] -= 1
                    step_chunks.append(chunks[position].pop())
                else:  # a top-up identity (no chunk left): a fresh chunk
                    step_chunks.append(draw_instances(self.index_by_pid[self.pids[position]],
                                                      self.num_instances, rng, self.shuffle))
            own = np.concatenate(step_chunks[first:first + self.num_identities])
            start = (step * self.world_size + self.rank) * self.batch_size  # position in the 1-process order
            yield from keyed(own, self.seed, self.epoch, range(start, start + len(own)))

    def _cut_chunks(self, indices, rng):
        """Cut one identity's images into chunks of K (reversed so that ``pop()`` takes them in order)."""
        k = self.num_instances
        if len(indices) < k:
            return [draw_instances(indices, k, rng, self.shuffle)]
        order = rng.permutation(indices) if self.shuffle else np.asarray(indices)
        return [order[i * k:(i + 1) * k] for i in range(len(indices) // k)][::-1]

    def _select_step(self, remaining, steps_left, rng):
        """Positions (into ``self.pids``) of the ``world_size * P`` distinct identities of one step.

        Identities with as many chunks left as steps left must be taken now (else the epoch could not use all
        chunks); the rest are drawn among those with chunks left, weighted by their count; a shortfall is
        filled with identities that have no chunk left (they get a fresh chunk).
        """
        need = self.ids_per_step
        must = np.flatnonzero(remaining >= steps_left)
        optional = np.flatnonzero((remaining > 0) & (remaining < steps_left))
        free = need - len(must)
        if len(optional) > free:
            if self.shuffle:
                weights = remaining[optional] / remaining[optional].sum()
                optional = rng.choice(optional, free, replace=False, p=weights)
            else:
                optional = optional[np.argsort(-remaining[optional], kind='stable')[:free]]
        selected = np.concatenate([must, optional])
        if len(selected) < need:
            exhausted = np.setdiff1d(np.arange(len(self.pids)), selected)
            fill = rng.choice(exhausted, need - len(selected), replace=False) if self.shuffle \
                else exhausted[:need - len(selected)]
            selected = np.concatenate([selected, fill])
        return rng.permutation(selected) if self.shuffle else np.sort(selected)
