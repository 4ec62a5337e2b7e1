from . import losses  # noqa: F401
from .backbones import TorchreidBackbone
from .baseline import ReIDBaseline
from .data_preprocessor import ReIDDataPreprocessor
from .utils import build_data_preprocessor, gt_pids, set_pred_features

__all__ = ['ReIDBaseline', 'ReIDDataPreprocessor', 'TorchreidBackbone', 'build_data_preprocessor', 'gt_pids',
           'set_pred_features']
