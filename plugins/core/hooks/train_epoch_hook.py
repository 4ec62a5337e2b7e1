"""TrainEpochHook: the one way epoch-dependent training state (loss warm-ups, scheduled margins) reaches a model."""
from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS
from mmpretrain.utils import get_ori_model


@HOOKS.register_module()
class TrainEpochHook(Hook):
    """Tell the model the 0-based training epoch before every training epoch (and after a resume).

    Calls ``set_train_epoch(runner.epoch)`` on the model (unwrapped from DDP with ``get_ori_model``, as
    mmpretrain's ``DenseCLHook``); :class:`~plugins.core.models.BaseReIDModel` records it and passes it on to
    every sub-module with a ``set_train_epoch`` method (e.g. a loss whose margin changes at some epoch). Add it
    to ``custom_hooks`` of a config whose model or losses depend on the epoch.
    """

    priority = 'VERY_HIGH'  # before any hook that reads the state (e.g. a hook counting per-epoch statistics)

    def before_train(self, runner) -> None:
        model = get_ori_model(runner.model)
        if not callable(getattr(model, 'set_train_epoch', None)):
            raise TypeError(f'TrainEpochHook: the model {type(model).__name__} has no `set_train_epoch(epoch)`; '
                            f'derive it from plugins.core.models.BaseReIDModel or remove the hook from '
                            f'custom_hooks')

    def before_train_epoch(self, runner) -> None:
        get_ori_model(runner.model).set_train_epoch(runner.epoch)
