"""StrictLoadHook: ``load_from`` and ``--resume`` refuse a checkpoint of another model."""
from mmengine.hooks import Hook
from mmengine.runner import find_latest_checkpoint
from mmpretrain.registry import HOOKS

from plugins.core.utils.checkpoint import (CheckpointMismatchError, OPT_OUT, checkpoint_origin,
                                           describe_target, load_state_dict_checked)


def _param_group_sizes(optim_state):
    """Tensors per parameter group of an optimizer state dict (a dict of them for several optimizers)."""
    if 'param_groups' in optim_state:
        return [len(group['params']) for group in optim_state['param_groups']]
    return {name: _param_group_sizes(state) for name, state in optim_state.items() if isinstance(state, dict)}


@HOOKS.register_module()
class StrictLoadHook(Hook):
    """Check every checkpoint the Runner loads (``load_from``: ``tools/test.py``, mmpretrain's tools; ``resume``).

    MMEngine's ``Runner.load_checkpoint`` loads with ``strict=False`` and calls ``after_load_checkpoint`` just
    before: this hook loads the weights there through
    :func:`~plugins.core.utils.checkpoint.load_state_dict_checked`, which raises on missing or unexpected
    keys and on tensors of another shape, naming the config the checkpoint comes from (MMEngine then copies the
    same tensors again, which changes nothing). When resuming, the optimizer state must also fit this run's
    optimizer: otherwise MMEngine fails later with a bare "parameter groups" error.

    The config's top-level ``load_strict`` (True in ``configs/_base_/default_runtime.py``) switches partial
    loading on: ``--cfg-options load_strict=False`` loads what fits and logs what did not.
    """

    priority = 'VERY_HIGH'

    def after_load_checkpoint(self, runner, checkpoint) -> None:
        source = runner.cfg.get('load_from') or find_latest_checkpoint(runner.work_dir) or 'the checkpoint'
        target = describe_target(runner.model.module if hasattr(runner.model, 'module') else runner.model,
                                 runner.cfg.filename)
        load_state_dict_checked(runner.model, checkpoint, strict=runner.cfg.get('load_strict', True),
                                source=source, target=target)
        if getattr(runner, '_resume', False) and 'optimizer' in checkpoint:
            self._check_optimizer_state(runner, checkpoint, source, target)

    @staticmethod
    def _check_optimizer_state(runner, checkpoint, source, target):
        optim_wrapper = runner.optim_wrapper
        if not hasattr(optim_wrapper, 'state_dict') or isinstance(optim_wrapper, dict):
            return  # not built (yet): nothing to compare with
        saved, current = _param_group_sizes(checkpoint['optimizer']), _param_group_sizes(optim_wrapper.state_dict())
        if saved != current:
            raise CheckpointMismatchError(
                f'cannot resume {target} from {source}: its optimizer state has other parameter groups '
                f'({_summary(saved)}) than this run\'s optimizer ({_summary(current)}). The checkpoint comes from '
                f'{checkpoint_origin(checkpoint)}; resume with that config (`{OPT_OUT}` only loads the model '
                f'partially, the optimizer state of another model cannot be resumed).')


def _summary(sizes):
    if isinstance(sizes, dict):
        return '; '.join(f'{name}: {_summary(s)}' for name, s in sizes.items())
    return f'{len(sizes)} groups, {sum(sizes)} tensors'
