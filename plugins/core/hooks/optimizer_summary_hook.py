"""OptimizerSummaryHook: one log line for the parameter groups instead of one line per parameter and option."""
from collections import Counter

from mmengine.hooks import Hook
from mmengine.optim import OptimWrapperDict
from mmpretrain.registry import HOOKS

#: options that every group of an optimizer carries with the same value (defaults filled in by torch)
_ALWAYS_SHOWN = ('lr', 'weight_decay')


def summarise_param_groups(name, optimizer):
    """``"Optimizer Adam: 62 parameter tensors in 62 param groups: lr=0.001 weight_decay=0.0005 for 21 tensors;
    ..."``: the groups counted by their settings (lr as set by the constructor, before any scheduler).

    Args:
        name (str): how to call the optimizer in the line.
        optimizer (torch.optim.Optimizer): a built optimizer.

    Returns:
        str: the line.
    """
    groups = optimizer.param_groups
    keys = [k for k in groups[0] if k not in ('params', 'initial_lr')]
    varying = [k for k in keys if len({repr(g.get(k)) for g in groups}) > 1]
    shown = [k for k in keys if k in _ALWAYS_SHOWN or k in varying]

    def setting(group):
        return ' '.join(f'{k}={group.get("initial_lr", group["lr"]) if k == "lr" else group.get(k)}' for k in shown)

    tensors = Counter()
    for group in groups:
        tensors[setting(group)] += len(group['params'])
    parts = '; '.join(f'{s} for {n} tensors' for s, n in tensors.items())
    return (f'{name} {type(optimizer).__name__}: {sum(tensors.values())} parameter tensors in {len(groups)} param '
            f'groups: {parts} (the per-parameter paramwise_options lines are logged at DEBUG)')


@HOOKS.register_module()
class OptimizerSummaryHook(Hook):
    """Log :func:`summarise_param_groups` of every optimizer once, when the training starts.

    The plugin lowers MMEngine's per-parameter ``paramwise_options`` lines to DEBUG
    (:mod:`plugins.core.utils.log_filters`); this line keeps what they said, counted.
    """

    def before_train(self, runner) -> None:
        wrapper = runner.optim_wrapper
        wrappers = wrapper.items() if isinstance(wrapper, OptimWrapperDict) else [('Optimizer', wrapper)]
        for name, optim_wrapper in wrappers:
            runner.logger.info(summarise_param_groups(name, optim_wrapper.optimizer))
