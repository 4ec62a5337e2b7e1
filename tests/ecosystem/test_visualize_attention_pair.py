"""tools/visualize_attention.py --pair: the distance is the config's own Siamese attention loss (no method class
named by the tool)."""
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

import plugins  # noqa: F401
from tests.helpers import REPO, load_tool


def test_pair_distance_is_the_configs_loss_sa():
    tool = load_tool('visualize_attention')
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'demo', 'casn_pcb_market1501_demo.py'))
    loss = tool.pair_consistency(cfg)
    assert type(loss).__name__ == cfg.model.loss_sa.type and loss.threshold == cfg.model.loss_sa.threshold
    assert tool.pair_consistency(cfg, threshold=0.3).threshold == 0.3
    baseline = Config.fromfile(osp.join(REPO, 'configs', 'demo', 'baseline_market1501_demo.py'))
    with pytest.raises(ValueError, match='--pair measures the attention consistency of the config.s `model.loss_sa`'):
        tool.pair_consistency(baseline)
