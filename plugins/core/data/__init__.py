from . import samplers, tokenizers, transforms  # noqa: F401
from .collate import reid_collate, stack_inputs, unstack_inputs

__all__ = ['reid_collate', 'stack_inputs', 'unstack_inputs']
