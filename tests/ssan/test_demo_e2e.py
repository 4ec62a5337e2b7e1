"""SSAN demo end to end, in process through tools/train.py and tools/test.py: the loss falls, text->image R1 is
far above chance, and testing the saved checkpoint (vocabulary reloaded from the work dir) reproduces it."""
import hashlib
import os
import os.path as osp

import pytest

from tests.helpers import REPO, assert_demo_learned, data_root_options, load_tool, make_demo_data
from tests.helpers import read_scalars as scalars


CONFIG = osp.join(REPO, 'configs', 'demo', 'ssan_cuhkpedes_demo.py')
#: demo CUHK-PEDES test split: 16 identities x 3 images, so a random ranking puts a match first 1/16 of the time
CHANCE_R1 = 100.0 / 16


def sha1(path):
    with open(path, 'rb') as f:
        return hashlib.sha1(f.read()).hexdigest()


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp('ssan_demo')
    data = root / 'cuhk-pedes'
    make_demo_data(root, 'cuhk-pedes')
    work_dir = root / 'work'
    load_tool('train').main([CONFIG, '--work-dir', str(work_dir), '--cfg-options', *data_root_options(data)])
    return work_dir, data


@pytest.mark.slow
def test_demo_loss_decreases_and_r1_far_above_chance(trained):
    work_dir, _ = trained
    records = scalars(work_dir)
    assert_demo_learned(records, ('loss', 'loss_cr_global', 'loss_cr_local', 'loss_cr_relation'))
    r1 = [r['R1'] for r in records if 'R1' in r]
    assert r1 and r1[-1] > 4 * CHANCE_R1, r1
    assert osp.isfile(work_dir / 'vocab.json')


@pytest.mark.slow
def test_checkpoint_reproduces_metrics_with_the_saved_vocabulary(trained):
    work_dir, data = trained
    vocab = work_dir / 'vocab.json'
    digest, mtime = sha1(vocab), os.stat(vocab).st_mtime_ns
    checkpoint = open(work_dir / 'last_checkpoint').read().strip()
    last_val = max((r for r in scalars(work_dir) if 'R1' in r), key=lambda r: r['step'])
    # testing in the training work dir: WordVocabularyHook reads the vocabulary from the checkpoint, never rebuilds
    metrics = load_tool('test').main([CONFIG, checkpoint, '--work-dir', str(work_dir),
                                      '--cfg-options', *data_root_options(data)])
    assert sha1(vocab) == digest and os.stat(vocab).st_mtime_ns == mtime  # reloaded, not rebuilt
    for key in ('R1', 'R5', 'mAP', 'mINP'):
        assert metrics[key] == pytest.approx(last_val[key], abs=1e-3), key
