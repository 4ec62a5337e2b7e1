"""Bad input, the cases the unit tests do not reach: through ``tools/train.py`` and for BMP files.

Configuration faults measured on the demo data (issue 25) are rows too: ``--cfg-options`` values with a space or
unbalanced brackets, a copied work dir's ``last_checkpoint``, checkpoint paths that are a folder, a truncated file
or a bare tensor, and a full disk while a checkpoint is saved.

Already covered elsewhere (data set level): wrong data root, missing split file, empty identity folder, corrupt
JPEG, JSON records without captions/file_path, empty caption (tests/core/datasets/test_datasets_errors.py);
``--cfg-options`` typos (tests/core/utils/test_config_checks.py); CLIP weights missing (tests/irra); num_classes
too small (model tests). Here each row runs the launcher (or the BMP reader) and checks that the error names the
file/key and that a failed launch leaves no checkpoint in its work dir.
"""
import builtins
import contextlib
import errno
import importlib
import io
import os
import os.path as osp
import shutil

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import save_checkpoint
from mmpretrain.registry import DATASETS, TRANSFORMS

import plugins  # noqa: F401
from plugins.core.utils import apply_mmengine_patches
from tests.helpers import REPO, data_root_options, load_tool, make_demo_data

# the module (``plugins.core.utils.atomic_write`` as an attribute is the class of the same name)
atomic_write_module = importlib.import_module('plugins.core.utils.atomic_write')

BASELINE = osp.join(REPO, 'configs', 'demo', 'baseline_market1501_demo.py')
IRRA = osp.join(REPO, 'configs', 'demo', 'irra_cuhkpedes_demo.py')
SMALL_BATCH = ['train_dataloader.batch_size=16', 'train_dataloader.sampler.batch_size=16']


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    return make_demo_data(tmp_path_factory.mktemp('bad_input_data'), 'market1501', 'regdb', 'cuhk-pedes')


def run_train(work_dir, config, *options):
    """``tools/train.py CONFIG --work-dir W --cfg-options ...`` in process."""
    return load_tool('train').main([config, '--work-dir', str(work_dir), '--cfg-options', *options])


class UsageError(Exception):
    """What argparse printed on stderr before it exited."""


def parse_train(*argv):
    """``tools/train.py BASELINE ARGV`` up to its argument parsing; a usage error becomes :class:`UsageError`."""
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        try:
            return load_tool('train').parse_args([BASELINE, *argv])
        except SystemExit as exit_:
            raise UsageError(f'exit {exit_.code}: {stderr.getvalue()}') from None


def merge_train(*argv):
    """``tools/train.py BASELINE ARGV`` up to the merged config (what runs before the model is built)."""
    train = load_tool('train')
    return train.merge_args(Config.fromfile(BASELINE), train.parse_args([BASELINE, *argv]))


def run_test(tmp, data, checkpoint):
    """``tools/test.py BASELINE CHECKPOINT`` on the demo Market-1501, in process."""
    return load_tool('test').main([BASELINE, str(checkpoint), '--work-dir', str(tmp / 'work'), '--cfg-options',
                                   *data_root_options(data / 'market1501')])


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


def space_in_data_root(tmp, data):
    # MMEngine's DictAction deleted the space: the run trained on `myset` without a word
    os.symlink(data / 'market1501', tmp / 'myset')
    run_train(tmp / 'work', BASELINE, f'data_root={tmp}/my set', 'train_cfg.max_epochs=0')


def unquoted_space_in_option(tmp, data):
    parse_train('--cfg-options', 'data_root=/data/my', 'set')  # the shell split `data_root=/data/my set`


def unbalanced_brackets(tmp, data):
    parse_train('--cfg-options', 'train_dataloader.batch_size=[1,2')


def copied_work_dir_without_its_checkpoint(tmp, data):
    (tmp / 'orig').mkdir()
    (tmp / 'orig' / 'epoch_2.pth').write_bytes(b'the original run')
    (tmp / 'copy').mkdir()
    (tmp / 'copy' / 'last_checkpoint').write_text(str(tmp / 'orig' / 'epoch_2.pth'))
    merge_train('--work-dir', str(tmp / 'copy'), '--resume')


def tensor_checkpoint(tmp, data):
    torch.save(torch.zeros(3), tmp / 'tensor.pth')
    run_test(tmp, data, tmp / 'tensor.pth')


def directory_checkpoint(tmp, data):
    (tmp / 'ckpts').mkdir()
    (tmp / 'ckpts' / 'epoch_1.pth').write_bytes(b'')
    run_test(tmp, data, tmp / 'ckpts')


def truncated_checkpoint(tmp, data):
    torch.save({'state_dict': {'w': torch.zeros(64, 64)}}, tmp / 'full.pth')
    (tmp / 'truncated.pth').write_bytes((tmp / 'full.pth').read_bytes()[:8000])
    run_test(tmp, data, tmp / 'truncated.pth')


class FullDiskFile:
    """A file opened for writing on a full disk: every ``write`` fails with ENOSPC."""

    def __init__(self, file):
        self._file = file

    def write(self, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __getattr__(self, name):
        return getattr(self._file, name)


def disk_full_during_checkpoint_save(tmp, data):
    apply_mmengine_patches()  # what the configs' custom_imports do: the atomic LocalBackend saves checkpoints
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(atomic_write_module, 'open', lambda *a, **k: FullDiskFile(builtins.open(*a, **k)), raising=False)
        (tmp / 'work').mkdir()
        save_checkpoint({'state_dict': {'w': torch.zeros(256, 256)}}, str(tmp / 'work' / 'epoch_1.pth'))


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
    ('--cfg-options value with a space keeps it', space_in_data_root, FileNotFoundError, ["data_root='{tmp}/my set'"]),
    ('--cfg-options value split by the shell', unquoted_space_in_option, UsageError,
     ['exit 2', '`set` is not key=value', '"data_root=/data/my set"']),
    ('--cfg-options with unbalanced brackets', unbalanced_brackets, UsageError,
     ['exit 2', 'train_dataloader.batch_size=[1,2', "'[' at position 0 is never closed", 'key=[a,b]']),
    ('copied work dir: last_checkpoint names the original', copied_work_dir_without_its_checkpoint, RuntimeError,
     ['{tmp}/copy/last_checkpoint', '{tmp}/orig/epoch_2.pth', 'outside this work dir', '--resume PATH']),
    ('tools/test.py: a .pth holding a bare tensor', tensor_checkpoint, ValueError,
     ['{tmp}/tensor.pth', 'torch.Tensor of shape (3,)', 'model.state_dict()']),
    ('tools/test.py: a directory as checkpoint', directory_checkpoint, IsADirectoryError,
     ['{tmp}/ckpts is a directory', 'epoch_1.pth']),
    ('tools/test.py: a truncated checkpoint', truncated_checkpoint, ValueError, ['{tmp}/truncated.pth', 'truncated']),
    ('disk full while saving a checkpoint', disk_full_during_checkpoint_save, OSError,
     ['{tmp}/work/epoch_1.pth', 'No space left on device', 'free of', 'max_keep_ckpts']),
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
    if work_dir.exists():  # the launcher may have started its log, but wrote no checkpoint, not even a part
        written = [f for _, _, files in os.walk(work_dir) for f in files]
        assert not [f for f in written if f.endswith(('.pth', '.tmp')) or f == 'last_checkpoint'], written


def test_copied_work_dir_resumes_its_own_checkpoint(tmp_path):
    (tmp_path / 'orig').mkdir()
    torch.save({'state_dict': {}, 'meta': {'run': 'the original'}}, tmp_path / 'orig' / 'epoch_2.pth')
    copy = tmp_path / 'copy'
    shutil.copytree(tmp_path / 'orig', copy)
    (copy / 'last_checkpoint').write_text(str(tmp_path / 'orig' / 'epoch_2.pth'))  # as CheckpointHook wrote it
    train = load_tool('train')
    args = train.parse_args([BASELINE, '--work-dir', str(copy), '--resume'])
    cfg = train.merge_args(Config.fromfile(BASELINE), args)
    assert cfg.resume and cfg.load_from == str(copy / 'epoch_2.pth')
    assert args.resume_warnings == [f'--resume: {copy}/last_checkpoint names {tmp_path}/orig/epoch_2.pth, outside '
                                    f'this work dir (a copied work dir?); resuming from {copy}/epoch_2.pth, the file '
                                    f'of the same name here']


def test_nothing_to_resume_starts_from_scratch_without_auto_resuming_none(tmp_path):
    # MMEngine logs "Auto resumed from the latest checkpoint None" whenever resume=True and load_from=None
    train = load_tool('train')
    args = train.parse_args([BASELINE, '--work-dir', str(tmp_path / 'work'), '--resume'])
    cfg = train.merge_args(Config.fromfile(BASELINE), args)
    assert not cfg.resume and cfg.load_from is None
    assert args.resume_warnings == [f'--resume: nothing to resume in {tmp_path}/work (no last_checkpoint); the '
                                    'training starts from scratch']
