from .cross_modality_sampler import CrossModalitySampler
from .global_random_sampler import GlobalRandomSampler
from .identity_sampler import IdentitySampler
from .utils import KeyedIndex

__all__ = ['IdentitySampler', 'CrossModalitySampler', 'GlobalRandomSampler', 'KeyedIndex']
