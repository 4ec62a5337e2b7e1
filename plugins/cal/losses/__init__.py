from .distinction import DistinctionLoss
from .diversity import DiversityLoss
from .match_distill import MatchDistillFeatureLoss, MatchDistillScoreLoss
from .part_aligned_center import PartAlignedCenterLoss, identity_centres

__all__ = ['DistinctionLoss', 'DiversityLoss', 'MatchDistillFeatureLoss', 'MatchDistillScoreLoss',
           'PartAlignedCenterLoss', 'identity_centres']
