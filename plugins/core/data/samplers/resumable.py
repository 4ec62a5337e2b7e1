"""Mid-epoch resume for the plugin's samplers: start an epoch at batch n without reading the skipped images."""
import itertools


class ResumableSampler:
    """Mixin: :meth:`set_start_batch` makes the next ``iter(sampler)`` begin at the n-th batch of the epoch.

    A sampler that uses it defines ``_iter_epoch()`` (the indices of the whole epoch, in order) and has a per-rank
    ``batch_size`` (the number of indices of one batch on this rank). The skipped batches are still *drawn*
    (cheap: index arithmetic and the epoch's RNG), so the random state of the remaining ones, and each index's
    :class:`~plugins.core.data.samplers.utils.KeyedIndex` seed, are those of the uninterrupted epoch; no image
    of a skipped batch is loaded. ``len(sampler)`` stays the full epoch (the loop's batch count and ETA use it).

    The start applies to **one** epoch: it is read and cleared when the iterator is made (``DataLoader`` makes it
    at the start of the epoch, also with persistent workers), so the next epoch starts at its first batch.
    """

    _start_batch = 0

    def set_start_batch(self, batches):
        """Skip the first ``batches`` batches of the next epoch this sampler iterates.

        Args:
            batches (int): batches of the epoch already trained, ``0 <= batches <= len(self) // batch_size``
                (the whole epoch gives an empty epoch: the epoch's end-of-epoch actions are what is left).
        """
        epoch_batches = len(self) // self.batch_size
        if not 0 <= int(batches) <= epoch_batches:
            raise ValueError(f'{type(self).__name__}.set_start_batch({batches}): the epoch has {epoch_batches} '
                             f'batches of {self.batch_size}; the start must be between 0 and {epoch_batches}')
        self._start_batch = int(batches)

    def __iter__(self):
        skip, self._start_batch = self._start_batch * self.batch_size, 0
        return itertools.islice(self._iter_epoch(), skip, None)
