from . import losses  # noqa: F401
from .backbones import TorchreidBackbone
from .base import BaseReIDModel, check_num_classes, id_classifier
from .baseline import ReIDBaseline
from .data_preprocessor import ReIDDataPreprocessor
from .utils import gt_pids, set_pred_features

__all__ = ['BaseReIDModel', 'ReIDBaseline', 'ReIDDataPreprocessor', 'TorchreidBackbone', 'check_num_classes', 'gt_pids',
           'id_classifier', 'set_pred_features']
