from .torchreid_backbone import TorchreidBackbone

__all__ = ['TorchreidBackbone']
