from .cross_modality_sampler import CrossModalitySampler
from .identity_sampler import IdentitySampler

__all__ = ['IdentitySampler', 'CrossModalitySampler']
