"""Helpers shared by the identity-aware samplers: reading labels once, splitting the batch into identities."""
from collections import defaultdict


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
