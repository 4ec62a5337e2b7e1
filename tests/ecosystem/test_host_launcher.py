"""Every config runs under the host's own launcher (what ``mim train mmpretrain CONFIG`` runs), with nothing a
launcher of this repository adds: published configs build with ``Runner.from_cfg(Config.fromfile(cfg))``, and
one epoch of every demo config trains with mmpretrain's own ``.mim/tools/train.py`` and tests with its
``.mim/tools/test.py``."""
import glob
import json
import os
import os.path as osp

import pytest
import torch.distributed as torch_dist
from mmengine.config import Config
from mmengine.runner import Runner

from plugins.core.benchmark.train import drop_pretrained
from plugins.core.metafile import demo_models, load_model_index
from tests.helpers import REPO, data_root_options, demo_config, demo_data_options, make_demo_data, run_tool
from tests.helpers import read_scalars as scalars

PUBLISHED = sorted(glob.glob(osp.join(REPO, 'configs', '*.py')))
DEMOS = sorted(glob.glob(osp.join(REPO, 'configs', 'demo', '*.py')))
#: the metafiles' demos (configs/<method>/metafile.yml, ``Demo:``): name -> its spec (config, demo data folder)
DEMO_SPECS = {m.demo.name: m.demo for m in demo_models(load_model_index(REPO))}
#: tested from the checkpoint with mmpretrain's tools/test.py (``Host Test: true``): an image method and the
#: word-vocabulary methods
TESTED = sorted(name for name, demo in DEMO_SPECS.items() if demo.host_test)


def mim_tool(name):
    """mmpretrain's own ``tools/<name>`` as installed with the package (what ``mim train/test`` runs)."""
    import mmpretrain
    path = osp.join(osp.dirname(mmpretrain.__file__), '.mim', 'tools', name)
    assert osp.isfile(path), f'mmpretrain package without {path}'
    return path


def config_name(path):
    return osp.splitext(osp.basename(path))[0]


@pytest.mark.all_methods
def test_every_config_is_covered():
    assert len(PUBLISHED) >= 15 and sorted(map(config_name, DEMOS)) == sorted(DEMO_SPECS)
    assert TESTED  # at least one demo is tested with the host's test tool


@pytest.mark.parametrize('path', PUBLISHED + DEMOS, ids=config_name)
def test_distributed_backend_is_one_torch_knows(path):
    # mmengine passes env_cfg.dist_cfg.backend straight to torch.distributed.init_process_group
    backend = Config.fromfile(path).env_cfg.dist_cfg.get('backend', 'nccl')
    assert torch_dist.Backend(backend) in ('nccl', 'gloo', 'mpi')


@pytest.mark.parametrize('path', PUBLISHED, ids=config_name)
def test_published_config_builds_with_runner_from_cfg(path, tmp_path):
    cfg = Config.fromfile(path)
    drop_pretrained(cfg.model)
    cfg.work_dir = str(tmp_path)
    runner = Runner.from_cfg(cfg)  # builds the model and every hook; data sets are built lazily, by train/test
    hooks = {type(hook).__name__ for hook in runner.hooks}
    assert {'FiniteLossHook', 'EpochSeedHook', 'CheckpointHook'} <= hooks
    if 'vocab_size' in cfg.model:  # word-vocabulary methods: the hook builds or loads it for train / test
        assert 'WordVocabularyHook' in hooks


class _OnFirstUse(dict):
    """A dict whose missing keys ``make(key)`` fills, so that a selection of the tests (``-k <method>``) pays
    only for its own data sets and trainings."""

    def __init__(self, make):
        super().__init__()
        self._make = make

    def __missing__(self, key):
        self[key] = self._make(key)
        return self[key]


@pytest.fixture(scope='module')
def demo_data(tmp_path_factory):
    """``{demo data set: its root}``, each generated when a test first asks for it."""
    def generate(data):
        root = tmp_path_factory.mktemp(f'host_launcher_{data}')
        make_demo_data(root, data)
        return root / data
    return _OnFirstUse(generate)


@pytest.fixture(scope='module')
def demo_runs(demo_data, tmp_path_factory):
    """One epoch of a demo config through mmpretrain's tools/train.py: ``{config name: work dir}``, trained
    when a test first asks for it."""
    def train(name):
        work_dir = tmp_path_factory.mktemp(name)
        run_tool(REPO, mim_tool('train.py'), osp.join(REPO, DEMO_SPECS[name].config), '--work-dir', work_dir,
                 '--cfg-options', 'train_cfg.max_epochs=1', *demo_data_options(DEMO_SPECS[name], demo_data))
        return work_dir
    return _OnFirstUse(train)


@pytest.mark.slow
@pytest.mark.parametrize('name', sorted(DEMO_SPECS))
def test_demo_trains_one_epoch_with_the_host_train_tool(demo_runs, name):
    work_dir = demo_runs[name]
    records = scalars(work_dir)
    assert any('loss' in r for r in records)
    assert osp.isfile(work_dir / 'epoch_1.pth')
    # validated once, at the last epoch (R1, or <set>/R1 of every test set of a multi-set demo)
    assert [r['step'] for r in records if any(k.rpartition('/')[2] == 'R1' for k in r)] == [1]


@pytest.mark.slow
@pytest.mark.parametrize('name', TESTED)
def test_host_test_tool_reproduces_the_last_validation(demo_runs, demo_data, name, tmp_path):
    """Tested in a fresh work dir: a word-vocabulary model finds the training vocabulary in the checkpoint."""
    train_dir = demo_runs[name]
    path = osp.join(REPO, DEMO_SPECS[name].config)
    out = tmp_path / 'metrics.json'
    run_tool(REPO, mim_tool('test.py'), path, train_dir / 'epoch_1.pth', '--work-dir', tmp_path / 'test',
             '--out', out, '--out-item', 'metrics', '--cfg-options',
             *data_root_options(demo_data[DEMO_SPECS[name].data]))
    metrics = json.loads(out.read_text())
    validated = next(r for r in scalars(train_dir) if 'R1' in r)
    for key in ('R1', 'mAP'):
        assert metrics[key] == pytest.approx(validated[key], abs=1e-3), key
    assert not osp.exists(tmp_path / 'test' / 'vocab.json')  # read from the checkpoint, never rebuilt
    if 'vocab_size' in Config.fromfile(path).model:  # word-vocabulary methods write it next to the checkpoints
        assert oct(os.stat(train_dir / 'vocab.json').st_mode & 0o777) == oct(0o666 & ~current_umask())


def current_umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def word_vocabulary_demo_cfg(data_root, work_dir, **options):
    """A demo config whose WordVocabularyHook builds the vocabulary of its CUHK-PEDES training captions."""
    cfg = Config.fromfile(demo_config(hook='WordVocabularyHook', data='cuhk-pedes'))
    cfg.merge_from_dict(dict({f'{loader}.dataset.data_root': str(data_root)
                              for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader')},
                             work_dir=str(work_dir), log_level='WARNING', **options))
    return cfg


def test_failed_run_leaves_no_vocabulary_and_a_stale_one_is_refused(demo_data, tmp_path):
    work_dir = tmp_path / 'work'
    # 40 training identities: the model stops at the first step, before any checkpoint
    with pytest.raises(ValueError, match='num_classes'):
        Runner.from_cfg(word_vocabulary_demo_cfg(demo_data['cuhk-pedes'], work_dir, **{'model.num_classes': 2})).train()
    assert not osp.exists(work_dir / 'vocab.json')
    # a vocabulary of other captions (another data set) in the work dir stops the run, naming both caption files
    other = word_vocabulary_demo_cfg(demo_data['cuhk-pedes'], work_dir)
    from plugins.core.data.tokenizers import WordVocabulary
    from plugins.core.data.tokenizers.prepare_word_vocabulary import caption_source
    WordVocabulary.build(['a man in red', 'a man in blue'], max_size=60, min_count=2,
                         source=dict(caption_source(object(), ['a man in red', 'a man in blue']),
                                     caption_file='/elsewhere/reid_raw.json')).save(str(work_dir / 'vocab.json'))
    with pytest.raises(ValueError) as error:
        Runner.from_cfg(other).train()
    assert '/elsewhere/reid_raw.json' in str(error.value)
    assert str(demo_data['cuhk-pedes'] / 'reid_raw.json') in str(error.value)
