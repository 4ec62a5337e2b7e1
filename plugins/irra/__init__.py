"""IRRA (Jiang & Ye, CVPR 2023): text-to-image person retrieval on CLIP with implicit relation reasoning."""
from .clip_loading import (CLIPWeightsNotFoundError, build_clip, clip_config_from_openai, convert_hf_to_openai,
                           convert_openai_to_hf)
from .irr import CrossModalTransformer, MLMHead
from .mlm_loss import MLMLoss
from .model import IRRA
from .optim_constructor import IRRAOptimWrapperConstructor
from .sdm_loss import SDMLoss

__all__ = ['IRRA', 'SDMLoss', 'MLMLoss', 'CrossModalTransformer', 'MLMHead', 'IRRAOptimWrapperConstructor',
           'build_clip', 'convert_openai_to_hf', 'convert_hf_to_openai', 'clip_config_from_openai',
           'CLIPWeightsNotFoundError']
