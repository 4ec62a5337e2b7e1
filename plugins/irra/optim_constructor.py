"""Parameter groups of IRRA: new modules at a larger learning rate, biases at 2x without weight decay."""
from typing import List, Optional, Sequence

import torch.nn as nn
from mmengine.optim import DefaultOptimWrapperConstructor
from mmpretrain.registry import OPTIM_WRAPPER_CONSTRUCTORS


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class IRRAOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """One parameter group per parameter, as in the official ``solver/build.py``.

    ``paramwise_cfg`` keys (all optional):

    - ``new_module_keys`` (Sequence[str]): name prefixes of randomly initialised modules. Defaults to
      ``('cross_modal', 'mlm_head', 'classifier')``.
    - ``new_module_lr_mult`` (float): their learning-rate multiplier. Defaults to 5.0.
    - ``bias_lr_mult`` (float): multiplier of every bias (incl. LayerNorm biases, in any module).
      Defaults to 2.0.
    - ``bias_decay_mult`` (float): weight-decay multiplier of biases. Defaults to 0.0.

    Parameters with ``requires_grad=False`` are left out. A bias of a new module gets ``bias_lr_mult``
    (the bias rule wins, as for the official cross-modal module).
    """

    DEFAULTS = dict(new_module_keys=('cross_modal', 'mlm_head', 'classifier'), new_module_lr_mult=5.0,
                    bias_lr_mult=2.0, bias_decay_mult=0.0)

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg: Optional[dict] = None):
        # always fill the defaults: the base class skips add_params when paramwise_cfg is empty
        super().__init__(optim_wrapper_cfg, {**self.DEFAULTS, **(paramwise_cfg or {})})

    def add_params(self, params: List[dict], module: nn.Module, prefix: str = '', **kwargs) -> None:
        cfg = self.paramwise_cfg
        new_keys: Sequence[str] = tuple(cfg['new_module_keys'])
        new_mult, bias_lr_mult, bias_decay_mult = cfg['new_module_lr_mult'], cfg['bias_lr_mult'], cfg['bias_decay_mult']
        unknown = set(cfg) - set(self.DEFAULTS)
        if unknown:
            raise KeyError(f'IRRAOptimWrapperConstructor: unknown paramwise_cfg keys {sorted(unknown)}')
        for name, param in module.named_parameters():
            if not param.requires_grad:
                continue
            group = dict(params=[param], lr=self.base_lr)
            if self.base_wd is not None:
                group['weight_decay'] = self.base_wd
            if name.startswith(new_keys):
                group['lr'] = self.base_lr * new_mult
            if name.endswith('bias'):
                group['lr'] = self.base_lr * bias_lr_mult
                if self.base_wd is not None:
                    group['weight_decay'] = self.base_wd * bias_decay_mult
            params.append(group)
