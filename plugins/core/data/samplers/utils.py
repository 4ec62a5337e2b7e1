"""Helpers shared by the identity-aware samplers: reading labels once, splitting the batch into identities."""
from collections import defaultdict

import numpy as np


def read_data_infos(dataset, keys):
    """Read ``keys`` of every ``data_info`` of ``dataset`` once, without loading any image.

    Args:
        dataset: an mmengine ``BaseDataset`` (or anything with ``get_data_info(i)`` and ``__len__``).
        keys (Sequence[str]): the ``data_info`` keys to read (e.g. ``('gt_label', 'modality')``).

    Returns:
        dict[str, list]: one list of length ``len(dataset)`` per key.
    """
    if hasattr(dataset, 'full_init'):
        dataset.full_init()
    values = {key: [] for key in keys}
    for idx in range(len(dataset)):
        info = dataset.get_data_info(idx)
        for key in keys:
            if key not in info:
                raise KeyError(f'{type(dataset).__name__}.get_data_info({idx}) has no key {key!r} '
                               f'(keys: {sorted(info)}); the identity samplers need it (see docs/data_contract.md)')
            values[key].append(info[key])
    return values


def group_indices_by_label(labels, indices=None):
    """Map each label to the (ascending) dataset indices that carry it.

    Args:
        labels (Sequence[int]): label of every dataset index.
        indices (Iterable[int], optional): restrict to these indices (default: all).

    Returns:
        dict[int, list[int]]: label -> indices, labels in ascending order.
    """
    groups = defaultdict(list)
    for idx in (range(len(labels)) if indices is None else indices):
        groups[int(labels[idx])].append(idx)
    return {label: groups[label] for label in sorted(groups)}


def identities_per_rank(batch_size, images_per_identity, sampler_name):
    """Number of identities P in one per-rank batch of ``batch_size`` samples.

    Args:
        batch_size (int | None): the per-rank batch size (the dataloader's ``batch_size``).
        images_per_identity (int): samples one identity contributes to a batch (K, or 2K across modalities).
        sampler_name (str): used in error messages.

    Returns:
        int: P = batch_size // images_per_identity.
    """
    if batch_size is None:
        raise ValueError(f'{sampler_name} needs the per-rank batch size: write '
                         f'sampler=dict(type={sampler_name!r}, batch_size=<train_dataloader.batch_size>, ...) '
                         f'(mmengine does not pass it to samplers)')
    if batch_size <= 0 or batch_size % images_per_identity:
        raise ValueError(f'{sampler_name}: batch_size={batch_size} must be a positive multiple of '
                         f'{images_per_identity} (samples per identity in a batch)')
    return batch_size // images_per_identity


class KeyedIndex(int):
    """A dataset index that carries the seed of its sample's random draws (augmentation, masks).

    The samplers key every sample's draws to ``(seed, epoch, position in the 1-process epoch order)``, so a
    sample is augmented the same way at any world size and any ``num_workers``
    (:meth:`ReIDBaseDataset.__getitem__` seeds ``random``, ``numpy`` and ``torch`` with it for that sample).
    """

    def __new__(cls, index, draw_seed):
        obj = super().__new__(cls, index)
        obj.draw_seed = int(draw_seed)
        return obj

    def __reduce__(self):  # DataLoader workers receive the seed too
        return KeyedIndex, (int(self), self.draw_seed)


def sample_draw_seed(seed, epoch, position):
    """A 32-bit seed that depends only on (sampler seed, epoch, position of the sample in the epoch's
    1-process order)."""
    return int(np.random.SeedSequence([int(seed) % 2**32, int(epoch), int(position)]).generate_state(1)[0])


def keyed(indices, seed, epoch, positions):
    """``KeyedIndex`` of each of ``indices`` at its 1-process ``positions``."""
    for index, position in zip(indices, positions):
        yield KeyedIndex(int(index), sample_draw_seed(seed, epoch, position))
