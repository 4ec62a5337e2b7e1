"""SSAN (Ding et al., 2021): text-to-image part-aware person ReID with word attention and part relations."""
from .losses import CompoundRankingLoss
from .model import SSAN
from .part_relation import PartRelationModule
from .text_encoder import BiLSTMTextEncoder
from .word_attention import WordAttentionModule

__all__ = ['SSAN', 'CompoundRankingLoss', 'PartRelationModule', 'BiLSTMTextEncoder', 'WordAttentionModule']
