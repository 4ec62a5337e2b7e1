"""CASN (Zheng et al., CVPR 2019): Grad-CAM identification attention + Siamese attention consistency."""
from .heads import IDEHead, PCBHead
from .losses import IdentificationAttentionLoss, SiameseAttentionLoss
from .model import CASN
from .pair_sampling import sample_pairs
from .siamese_head import SiameseHead

__all__ = ['CASN', 'IDEHead', 'PCBHead', 'SiameseHead', 'IdentificationAttentionLoss', 'SiameseAttentionLoss',
           'sample_pairs']
