"""The strong ReID baseline (Luo et al., BoT, CVPRW 2019): GAP -> BNNeck -> ID classifier, ID + triplet losses."""
from .model import ReIDBaseline

__all__ = ['ReIDBaseline']
