"""P identities x (K visible + K infrared) per batch, for visible-infrared ReID."""
import math
import warnings

import numpy as np
from mmengine.dist import get_dist_info, sync_random_seed
from mmpretrain.registry import DATA_SAMPLERS
from torch.utils.data import Sampler

from .identity_sampler import draw_instances, make_rng
from .resumable import ResumableSampler
from .utils import group_indices_by_label, identities_per_rank, keyed, read_data_infos

MODALITIES = ('visible', 'infrared')


@DATA_SAMPLERS.register_module()
class CrossModalitySampler(ResumableSampler, Sampler):
    """Cross-modality identity sampler (AGW / CAJ ``IdentitySampler``), distributed-aware and reproducible.

    Each step draws ``world_size * P`` distinct identities among those that have both visible and infrared
    images; rank ``r`` takes identities ``[r*P, (r+1)*P)``. For each identity, K visible and K infrared images
    are drawn (without replacement when the identity has at least K images of that modality, with replacement
    otherwise; AGW always draws with replacement).

    **Batch layout** (per rank, ``batch_size = 2*P*K``; the CAL model relies on it)::

        [ v(id_1) x K, v(id_2) x K, ..., v(id_P) x K,   i(id_1) x K, i(id_2) x K, ..., i(id_P) x K ]
          ^------------- P*K visible ------------^       ^------------- P*K infrared ------------^

    i.e. the first half is visible, the second half infrared, and the j-th infrared sample has the same
    person id as the j-th visible sample.

    At W processes a step draws the same identities and images as one process with the W-fold batch, whose
    layout is ``[v(all ids), i(all ids)]``; rank ``r`` gets ``[v(its ids), i(its ids)]`` (each rank needs both
    modalities), so the model gathers the visible and infrared halves separately to rebuild the 1-process
    batch (``plugins.cal``). Every sample's augmentation is keyed to its position in that 1-process batch.

    Epoch length (as AGW: ``N = max(#visible, #infrared)`` images, ``int(N / (P*K)) + 1`` steps): here
    ``ceil(N / (world_size * P * K))`` steps, so the visible images drawn in one epoch over all ranks cover
    about the size of the (larger, visible) set; ``len(sampler) = steps * 2*P*K`` per rank.

    Args:
        dataset: the training dataset; ``gt_label`` and ``modality`` (``'visible'``/``'infrared'``) are read
            once from ``get_data_info(i)``.
        num_instances (int): K, images per identity **and per modality** in a batch. Default 4.
        batch_size (int): the **per-rank** batch size, ``train_dataloader.batch_size`` = 2*P*K; P is derived
            from it. Required.
        shuffle (bool): False gives a deterministic order (ids in ascending cycles, first images).
        seed (int, optional): random seed; default: a seed synchronised across ranks.
    """

    @staticmethod
    def batch_multiple(num_instances=4, **kwargs):
        """What a per-rank batch must be a multiple of (2K: K visible + K infrared per identity)."""
        return 2 * int(num_instances)

    def __init__(self, dataset, num_instances=4, batch_size=None, shuffle=True, seed=None):
        self.rank, self.world_size = get_dist_info()
        self.dataset = dataset
        self.num_instances = int(num_instances)
        self.num_identities = identities_per_rank(batch_size, 2 * self.num_instances, 'CrossModalitySampler')
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.seed = sync_random_seed() if seed is None else seed
        self.epoch = 0

        infos = read_data_infos(dataset, ('gt_label', 'modality'))
        by_modality = {}
        for modality in MODALITIES:
            indices = [i for i, m in enumerate(infos['modality']) if m == modality]
            if not indices:
                raise ValueError(f'CrossModalitySampler: {type(dataset).__name__} has no sample with '
                                 f"modality={modality!r} (found {sorted(set(infos['modality']))})")
            by_modality[modality] = group_indices_by_label(infos['gt_label'], indices)
        self.visible_by_pid, self.infrared_by_pid = by_modality['visible'], by_modality['infrared']
        both = sorted(set(self.visible_by_pid) & set(self.infrared_by_pid))
        dropped = len(set(self.visible_by_pid) | set(self.infrared_by_pid)) - len(both)
        if dropped:
            warnings.warn(f'CrossModalitySampler: {dropped} identities have images of only one modality and '
                          f'are never sampled')
        self.pids = np.array(both, dtype=np.int64)
        self.ids_per_step = self.world_size * self.num_identities
        if len(self.pids) < self.ids_per_step:
            raise ValueError(f'CrossModalitySampler: {len(self.pids)} identities with both modalities, but a step '
                             f'needs {self.ids_per_step} distinct ones (P={self.num_identities} per rank x '
                             f'{self.world_size} ranks); lower batch_size or num_instances')
        num_images = max(sum(map(len, self.visible_by_pid.values())), sum(map(len, self.infrared_by_pid.values())))
        self.num_steps = math.ceil(num_images / (self.ids_per_step * self.num_instances))

    def __len__(self):
        return self.num_steps * self.batch_size

    def set_epoch(self, epoch):
        """Set the epoch, so that each epoch draws a different (but reproducible) order."""
        self.epoch = epoch

    def _iter_epoch(self):
        """The indices of the whole epoch (``iter(sampler)`` starts at :meth:`set_start_batch`)."""
        rng = make_rng(self.seed, self.epoch)
        first = self.rank * self.num_identities
        k = self.num_instances
        for step in range(self.num_steps):
            if self.shuffle:
                selected = rng.choice(self.pids, self.ids_per_step, replace=False)
            else:
                selected = self.pids[(step * self.ids_per_step + np.arange(self.ids_per_step)) % len(self.pids)]
            # draw for every identity of the step (same order on every rank keeps the random state in sync)
            visible = [draw_instances(self.visible_by_pid[pid], k, rng, self.shuffle) for pid in selected]
            infrared = [draw_instances(self.infrared_by_pid[pid], k, rng, self.shuffle) for pid in selected]
            own = slice(first, first + self.num_identities)
            # positions in the 1-process batch [visible of all ids, infrared of all ids] key the augmentation
            half, start = self.ids_per_step * k, step * self.ids_per_step * 2 * k + first * k
            visible_pos = range(start, start + self.num_identities * k)
            infrared_pos = range(start + half, start + half + self.num_identities * k)
            yield from keyed(np.concatenate(visible[own]), self.seed, self.epoch, visible_pos)
            yield from keyed(np.concatenate(infrared[own]), self.seed, self.epoch, infrared_pos)
