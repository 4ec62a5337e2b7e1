"""AXM-Net demo end to end (in-process Runner): loss decreases, text->image R1 far above chance, and testing
the saved checkpoint reproduces the logged metrics."""
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from tests.helpers import assert_demo_learned, read_scalars

REPO = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
CONFIG = osp.join(REPO, 'configs', 'demo', 'axmnet_cuhkpedes_demo.py')
CHANCE_R1 = 100.0 / 16  # 16 test identities in the demo CUHK-PEDES


def demo_cfg(data_root, work_dir):
    cfg = Config.fromfile(CONFIG)
    cfg.work_dir = str(work_dir)
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].dataset.data_root = str(data_root)
    cfg.default_hooks.logger.interval = 1
    cfg.log_level = 'WARNING'
    return cfg


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp('axmnet_demo')
    subprocess.run([sys.executable, osp.join(REPO, 'tools', 'make_demo_data.py'), str(root / 'data'),
                    '--datasets', 'cuhk-pedes'], check=True, capture_output=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the demo is tuned for one core; more threads only contend on a shared machine
    try:
        runner = Runner.from_cfg(demo_cfg(root / 'data' / 'cuhk-pedes', root / 'work'))
        runner.train()
        history = runner.message_hub.log_scalars
        losses = list(history['train/loss'].data[0])
        val_r1 = list(history['val/R1'].data[0])
        logged = {k: history[f'val/{k}'].current() for k in ('R1', 'R5', 'mAP', 'mINP')}
    finally:
        torch.set_num_threads(threads)
    return dict(root=root, losses=losses, val_r1=val_r1, logged=logged)


@pytest.mark.slow
def test_demo_loss_decreases_and_r1_far_above_chance(trained):
    assert_demo_learned(read_scalars(trained['root'] / 'work'))
    assert trained['val_r1'][-1] > 3 * CHANCE_R1, trained['val_r1']


@pytest.mark.slow
def test_checkpoint_reproduces_logged_metrics(trained):
    root = trained['root']
    work = root / 'work'
    ckpt = open(work / 'last_checkpoint').read().strip()
    cfg = demo_cfg(root / 'data' / 'cuhk-pedes', root / 'test')  # a fresh work dir, without vocab.json
    cfg.load_from = ckpt  # WordVocabularyHook reads the ids of the training run from the checkpoint
    metrics = Runner.from_cfg(cfg).test()
    for key, value in trained['logged'].items():
        assert metrics[key] == pytest.approx(value, abs=1e-3), key
