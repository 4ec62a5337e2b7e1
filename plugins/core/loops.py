"""``ReIDEpochBasedTrainLoop``: MMEngine's epoch loop that resumes in the middle of an epoch, at the next batch.

Every config of the plugin trains with it: ``ReIDRunner`` builds ``epoch_loop`` of
``configs/_base_/default_runtime.py`` for MMEngine's ``train_cfg = dict(by_epoch=True, ...)``. A checkpoint
written during an epoch (:class:`~plugins.core.hooks.PreemptionHook`, on SIGTERM / SIGUSR1) holds MMEngine's
``epoch`` (the epoch in progress) and ``iter`` (iterations done), and the message hub of every checkpoint holds the
epoch length and the batches of the epoch trained; ``--resume`` continues that epoch at the first batch not
trained yet, so the resumed run takes the steps of the uninterrupted one.
"""
from mmengine.runner import EpochBasedTrainLoop
from mmpretrain.registry import LOOPS

from .models.base import check_model_matches_data


#: message hub keys (saved in every checkpoint): batches per epoch, and batches of ``runner.epoch`` trained
EPOCH_LENGTH, BATCHES_DONE = 'train_epoch_length', 'train_batches_done'


def resume_position(iteration, epoch, epoch_length, saved_length=None, saved_done=None):
    """Where a resumed run continues: the first batch of epoch ``epoch`` to train, and the iteration count.

    With the total batch fixed, the number of processes does not change the epoch length and the checkpoint's
    position is used as it is. When the length changed (``batch_size_mode='per_process'`` at another number of
    processes, another total batch), MMEngine's restored ``iter`` counts the old run's iterations: ETA
    (``max_iters - iter``, from the new length) went negative and the epoch ran past ``max_iters``. The count is
    then rebased on the new length, and a mid-epoch position is scaled to the same fraction of the epoch.

    Args:
        iteration (int): the checkpoint's ``iter``.
        epoch (int): the checkpoint's ``epoch`` (the epoch in progress, 0-based).
        epoch_length (int): batches per epoch of this run.
        saved_length (int, optional): batches per epoch of the run that saved the checkpoint (message hub;
            None for a checkpoint of MMEngine's loop: the epoch starts at its first batch).
        saved_done (int, optional): batches of ``epoch`` it had trained (message hub).

    Returns:
        tuple[int, int]: ``(start, iteration)``: ``0 <= start <= epoch_length`` batches to skip, and
        ``epoch * epoch_length + start``.
    """
    if saved_length is None or saved_done is None:
        # MMEngine's loop records no position: its checkpoints are epoch ends (its own resume restarts the epoch)
        start = 0
    elif int(saved_length) == int(epoch_length):
        start = int(saved_done)
    else:
        start = min(epoch_length, round(int(saved_done) * epoch_length / int(saved_length)))
    return start, int(epoch) * int(epoch_length) + start


@LOOPS.register_module()
class ReIDEpochBasedTrainLoop(EpochBasedTrainLoop):
    """``EpochBasedTrainLoop`` (same arguments) whose first epoch after ``--resume`` starts at the next batch.

    The skipped batches are skipped by the sampler (``set_start_batch`` of the plugin's samplers): no image is
    read for them, and the remaining batches, their augmentation seeds and the hooks' ``batch_idx`` are those of
    the uninterrupted epoch (``LoggerHook`` shows ``[e][n/N]``, the epoch's end is where it was). A sampler
    without ``set_start_batch`` (e.g. mmengine's ``DefaultSampler``) has the skipped batches loaded and dropped.

    Configs keep MMEngine's ``train_cfg = dict(by_epoch=True, max_epochs=..., ...)``; ``ReIDRunner`` builds this
    loop for it (``epoch_loop`` in the config; ``train_cfg.type`` set explicitly wins).
    """

    def run(self):
        self._check_num_classes()
        # before `before_train`: IterTimerHook takes the iteration the run starts at from it (ETA)
        self._start = self._resume_start()
        try:
            return super().run()
        finally:  # also when training fails: a process that goes on (a notebook, pytest) gets its handlers back
            for hook in self.runner.hooks:
                if callable(getattr(hook, 'restore_signal_handlers', None)):
                    hook.restore_signal_handlers()

    def run_epoch(self):
        """Train one epoch, from the batch after the last one trained (all of it unless resumed mid-epoch)."""
        self.runner.call_hook('before_train_epoch')  # the sampler's epoch is set here (DistSamplerSeedHook)
        self.runner.model.train()
        start, self._start = getattr(self, '_start', 0), 0
        hub = self.runner.message_hub
        hub.update_info(EPOCH_LENGTH, len(self.dataloader))
        for idx, data_batch in enumerate(self._batches_from(start), start):
            self.run_iter(idx, data_batch)
        hub.update_info(BATCHES_DONE, 0)  # an epoch checkpoint (after_train_epoch) starts the next epoch
        self.runner.call_hook('after_train_epoch')
        self._epoch += 1

    def run_iter(self, idx, data_batch):
        # what a checkpoint written by this iteration's hooks (PreemptionHook, by-iteration CheckpointHook) records
        self.runner.message_hub.update_info(BATCHES_DONE, idx + 1)
        super().run_iter(idx, data_batch)

    def _check_num_classes(self):
        """A classifier of another size than the training ids is refused before the first step (a larger one
        trained silently, a smaller one failed at the first batch with a high id)."""
        model = getattr(self.runner.model, 'module', self.runner.model)
        metainfo = getattr(self.dataloader.dataset, 'metainfo', None) or {}
        check_model_matches_data(getattr(model, 'num_classes', None), metainfo, type(model).__name__)

    def _resume_start(self):
        """Batches of the current epoch already trained (0 but for the first epoch after a mid-epoch resume)."""
        hub, length = self.runner.message_hub, len(self.dataloader)
        saved_length, saved_done = hub.get_info(EPOCH_LENGTH), hub.get_info(BATCHES_DONE)
        start, iteration = resume_position(self._iter, self._epoch, length, saved_length, saved_done)
        if iteration != self._iter:
            self.runner.logger.warning(
                f'the checkpoint was written at {saved_length or "another number of"} batches per epoch, this run '
                f'has {length} (batch_size_mode, total batch or data changed): iteration {self._iter} of the '
                f'checkpoint is iteration {iteration} here (ETA, max_iters); iteration-based LR schedules keep '
                f'their own step count')
            self._iter = iteration
        if start:
            self.runner.logger.info(f'resuming epoch {self._epoch + 1} at batch {start + 1}/{length} (iteration '
                                    f'{self._iter + 1}): the {start} batches already trained are skipped')
        return start

    def _batches_from(self, start):
        """The epoch's batches from batch ``start`` on."""
        if start == 0:
            return self.dataloader
        sampler = getattr(self.dataloader, 'sampler', None)
        if callable(getattr(sampler, 'set_start_batch', None)):
            sampler.set_start_batch(start)  # read when the iterator is made, i.e. in iter() just below
            return iter(self.dataloader)
        self.runner.logger.warning(f'{type(sampler).__name__} cannot start mid-epoch: the {start} batches already '
                                   'trained are loaded and dropped')
        batches = iter(self.dataloader)
        for _ in range(start):
            next(batches)
        return batches
