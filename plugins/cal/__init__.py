"""CAL (concordant attention learning, ICCV 2023) for visible-infrared ReID, with the MatchDistill hook."""
from . import losses  # noqa: F401
from .drm import DRM, PartScorer, aggregate_parts, num_selected_tokens, select_top_tokens
from .hooks import MatchDistillHook, most_frequent_matching
from .matching import attention_overlap, batch_edge_weights, max_weight_matching
from .model import CAL, find_partners
from .tsaa import TSAA, instance_norm_tokens
from .two_stream import TwoStreamResNet

__all__ = ['CAL', 'DRM', 'PartScorer', 'TSAA', 'TwoStreamResNet', 'MatchDistillHook', 'aggregate_parts',
           'attention_overlap', 'batch_edge_weights', 'find_partners', 'instance_norm_tokens',
           'max_weight_matching', 'most_frequent_matching', 'num_selected_tokens', 'select_top_tokens']
