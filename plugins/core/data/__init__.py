from . import samplers, tokenizers, transforms  # noqa: F401
from .collate import reid_collate

__all__ = ['reid_collate']
