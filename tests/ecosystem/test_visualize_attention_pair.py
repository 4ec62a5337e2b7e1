"""tools/visualize_attention.py --pair: the distance is the config's own Siamese attention loss (no method class
named by the tool)."""
import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

import plugins  # noqa: F401
from tests.helpers import demo_config, load_tool


def test_pair_distance_is_the_configs_loss_sa():
    tool = load_tool('visualize_attention')
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(demo_config(where=lambda c: 'loss_sa' in c.model))
    loss = tool.pair_consistency(cfg)
    assert type(loss).__name__ == cfg.model.loss_sa.type and loss.threshold == cfg.model.loss_sa.threshold
    assert tool.pair_consistency(cfg, threshold=0.3).threshold == 0.3
    without = Config.fromfile(demo_config(text=False, where=lambda c: 'loss_sa' not in c.model))
    with pytest.raises(ValueError, match='--pair measures the attention consistency of the config.s `model.loss_sa`'):
        tool.pair_consistency(without)
