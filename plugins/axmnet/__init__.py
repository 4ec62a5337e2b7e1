"""AXM-Net (Farooq et al., AAAI 2022): cross-modal context sharing for text-to-image person ReID."""
from .axm_block import AXMBlock, ContextSharingGate
from .losses import CrossModalAffinityLoss
from .model import AXMNet
from .part_attention import PartChannelAttention
from .text_encoder import WordConvTextStem
from .text_non_local import TextNonLocal

__all__ = ['AXMBlock', 'AXMNet', 'ContextSharingGate', 'CrossModalAffinityLoss', 'PartChannelAttention',
           'TextNonLocal', 'WordConvTextStem']
