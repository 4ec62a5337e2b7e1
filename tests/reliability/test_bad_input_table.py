"""Bad input, the cases the unit tests do not reach: through ``tools/train.py`` and for BMP files.

Already covered elsewhere (data set level): wrong data root, missing split file, empty identity folder, corrupt
JPEG, JSON records without captions/file_path, empty caption (tests/core/datasets/test_datasets_errors.py);
``--cfg-options`` typos (tests/core/utils/test_config_checks.py); CLIP weights missing (tests/irra); num_classes
too small (model tests). Here each row runs the launcher (or the BMP reader) and checks that the error names the
file/key and that a failed launch leaves no checkpoint in its work dir.
"""
import os
import os.path as osp
import shutil

import pytest
from mmpretrain.registry import DATASETS, TRANSFORMS

import plugins  # noqa: F401
from tests.helpers import REPO, data_root_options, load_tool, make_demo_data

BASELINE = osp.join(REPO, 'configs', 'demo', 'baseline_market1501_demo.py')
IRRA = osp.join(REPO, 'configs', 'demo', 'irra_cuhkpedes_demo.py')
SMALL_BATCH = ['train_dataloader.batch_size=16', 'train_dataloader.sampler.batch_size=16']


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    return make_demo_data(tmp_path_factory.mktemp('bad_input_data'), 'market1501', 'regdb', 'cuhk-pedes')


def run_train(work_dir, config, *options):
    """``tools/train.py CONFIG --work-dir W --cfg-options ...`` in process."""
    return load_tool('train').main([config, '--work-dir', str(work_dir), '--cfg-options', *options])


def wrong_data_root(tmp, data):
    missing = str(tmp / 'no_such_market1501')
    run_train(tmp / 'work', BASELINE, *data_root_options(missing))


def unknown_cfg_key(tmp, data):
    run_train(tmp / 'work', BASELINE, *data_root_options(data / 'market1501'), 'train_cfg.max_epoch=1')


def num_classes_too_small(tmp, data):
    # the demo training set has 30 ids; the classifier only 3: fails at the first iteration
    run_train(tmp / 'work', BASELINE, *data_root_options(data / 'market1501'), *SMALL_BATCH, 'model.num_classes=3')


def clip_weights_missing(tmp, data):
    # IRRA loads the pre-trained CLIP in init_weights(), which Runner.train() calls after building the data
    run_train(tmp / 'work', IRRA, *data_root_options(data / 'cuhk-pedes'),
              f'model.clip.pretrained={tmp}/checkpoints/ViT-B-16.pt')


def corrupt_bmp_read(tmp, data):
    bad = tmp / 'T_female_front_t_06301_1.bmp'
    bad.write_bytes(b'BM' + b'\x00' * 20 + b'not a bitmap')
    TRANSFORMS.build(dict(type='LoadReIDImage')).transform(dict(img_path=str(bad)))


def corrupt_bmp_in_regdb(tmp, data):
    root = shutil.copytree(data / 'regdb', tmp / 'regdb')
    folder = osp.join(root, 'Thermal', sorted(os.listdir(osp.join(root, 'Thermal')))[0])
    bad = osp.join(folder, sorted(os.listdir(folder))[0])
    with open(bad, 'wb') as f:
        f.write(b'BM\x00\x00garbage')
    DATASETS.build(dict(type='RegDB', data_root=root, check_images=True, verbose=False))


# (case, action, exception, fragments the message must contain; '{tmp}' is the case's directory)
TABLE = [
    ('wrong data root via tools/train.py', wrong_data_root, FileNotFoundError,
     ['{tmp}/no_such_market1501', 'bounding_box_train/']),
    ('unknown key in --cfg-options', unknown_cfg_key, KeyError, ['train_cfg.max_epoch', 'train_cfg.max_epochs']),
    ('num_classes smaller than the data set', num_classes_too_small, ValueError, ['model.num_classes=3']),
    ('CLIP weights path missing', clip_weights_missing, FileNotFoundError,
     ['{tmp}/checkpoints/ViT-B-16.pt', 'model.clip.pretrained']),
    ('corrupt BMP image', corrupt_bmp_read, OSError, ['{tmp}/T_female_front_t_06301_1.bmp']),
    ('corrupt BMP in a RegDB tree (check_images)', corrupt_bmp_in_regdb, OSError, ['{tmp}/regdb/Thermal/', '.bmp']),
]


@pytest.mark.parametrize('case,action,error,fragments', TABLE, ids=[row[0] for row in TABLE])
def test_bad_input_fails_naming_the_culprit_without_partial_checkpoint(tmp_path, data, case, action, error,
                                                                       fragments):
    with pytest.raises(error) as err:
        action(tmp_path, data)
    message = str(err.value)
    for fragment in fragments:
        assert fragment.format(tmp=tmp_path) in message, f'{case}: {fragment!r} not in {message!r}'
    work_dir = tmp_path / 'work'
    if work_dir.exists():  # the launcher may have started its log, but wrote no checkpoint
        written = [f for _, _, files in os.walk(work_dir) for f in files]
        assert not [f for f in written if f.endswith('.pth') or f == 'last_checkpoint'], written
