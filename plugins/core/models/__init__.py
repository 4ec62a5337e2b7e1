from . import losses  # noqa: F401
from .backbones import TorchreidBackbone
from .base import BaseReIDModel, check_model_matches_data, check_num_classes
from .data_preprocessor import ReIDDataPreprocessor
from .layers import BNNeck, backbone_channels, id_classifier
from .utils import gt_pids, set_pred_features

__all__ = ['BNNeck', 'BaseReIDModel', 'ReIDDataPreprocessor', 'TorchreidBackbone', 'backbone_channels',
           'check_model_matches_data', 'check_num_classes', 'gt_pids', 'id_classifier', 'set_pred_features']
