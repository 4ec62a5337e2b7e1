"""Build the word vocabulary of a run once (from its training captions) and wire it into the config."""
import copy
import os.path as osp

from mmengine.logging import print_log

from .word_vocabulary import WordVocabulary

VOCAB_FILE_NAME = 'vocab.json'


def _without_pipeline(dataset_cfg):
    """Copy of a dataset config with every ``pipeline`` emptied (captions only, no image is loaded)."""
    cfg = copy.deepcopy(dataset_cfg)
    stack = [cfg]
    while stack:
        node = stack.pop()
        if 'pipeline' in node:
            node['pipeline'] = []
        for key in ('dataset', 'datasets'):
            child = node.get(key)
            stack.extend(child if isinstance(child, (list, tuple)) else [child] if child is not None else [])
    return cfg


def training_captions(dataset_cfg):
    """Captions of the training set described by ``dataset_cfg`` (read from ``data_info['caption']``)."""
    from mmpretrain.registry import DATASETS
    dataset = DATASETS.build(_without_pipeline(dataset_cfg))
    if hasattr(dataset, 'full_init'):
        dataset.full_init()
    captions = []
    for idx in range(len(dataset)):
        info = dataset.get_data_info(idx)
        if 'caption' not in info:
            raise KeyError(f'{type(dataset).__name__}.get_data_info({idx}) has no "caption" (keys: {sorted(info)}): '
                           f'a word vocabulary needs a text-image training set')
        captions.append(info['caption'])
    if not captions:
        raise ValueError(f'{type(dataset).__name__}: the training set has no caption to build a vocabulary from')
    return captions


def _set_vocab_file(node, vocab_file):
    """Set ``vocab_file`` on every ``WordTokenize`` config found in ``node``; returns how many."""
    count = 0
    if isinstance(node, dict):
        if node.get('type') in ('WordTokenize', 'mmpretrain.WordTokenize'):
            node['vocab_file'] = vocab_file
            count += 1
        for value in node.values():
            count += _set_vocab_file(value, vocab_file)
    elif isinstance(node, (list, tuple)):
        for value in node:
            count += _set_vocab_file(value, vocab_file)
    return count


def prepare_word_vocabulary(cfg, vocab_size_key='model.vocab_size', build_if_missing=True):
    """Make the run's word vocabulary exist once, and point the config at it.

    ``cfg.word_vocab = dict(file=None, min_count=2, max_size=None)`` describes it. The vocabulary file is
    ``word_vocab.file`` or, when None, ``<cfg.work_dir>/vocab.json``. If that file exists it is loaded (so
    resuming or testing never rebuilds and ids never drift); otherwise it is built from the captions of
    ``cfg.train_dataloader.dataset`` (built with an empty pipeline) and saved atomically. Then every
    ``WordTokenize`` in the config (train/val/test pipelines) gets ``vocab_file`` and ``vocab_size_key``
    gets the vocabulary size. Configs without ``word_vocab`` are left untouched.

    Args:
        cfg (mmengine.Config): the run's config, with ``work_dir`` set.
        vocab_size_key (str | None): dotted config key that receives ``len(vocabulary)``.
            Default ``'model.vocab_size'``; None to skip.
        build_if_missing (bool): if False, a missing vocabulary file is an error (for a strict test).

    Returns:
        WordVocabulary | None: the vocabulary (None when the config has no ``word_vocab``).
    """
    options = cfg.get('word_vocab')
    if options is None:
        return None
    vocab_file = options.get('file')
    if vocab_file is None:
        if not cfg.get('work_dir'):
            raise ValueError('prepare_word_vocabulary: cfg.work_dir is not set (the vocabulary is saved there); '
                             'set it, or set word_vocab.file')
        vocab_file = osp.join(cfg.work_dir, VOCAB_FILE_NAME)
    vocab_file = osp.abspath(vocab_file)
    if osp.isfile(vocab_file):
        vocab = WordVocabulary.load(vocab_file)
        print_log(f'word vocabulary: loaded {len(vocab)} ids from {vocab_file}', logger='current')
    elif not build_if_missing:
        raise FileNotFoundError(f'prepare_word_vocabulary: {vocab_file} not found; test with the work_dir of the '
                                f'training run (or set word_vocab.file) so that word ids match the checkpoint')
    else:
        vocab = WordVocabulary.build(training_captions(cfg.train_dataloader.dataset),
                                     min_count=options.get('min_count', 2), max_size=options.get('max_size'))
        vocab.save(vocab_file)
        print_log(f'word vocabulary: built {len(vocab)} ids (min_count={vocab.min_count}) from the training '
                  f'captions, saved to {vocab_file}', logger='current')
    num_transforms = 0
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if cfg.get(key) is not None:
            num_transforms += _set_vocab_file(cfg[key], vocab_file)
    if num_transforms == 0:
        print_log('word vocabulary: no WordTokenize transform found in the dataloaders', logger='current',
                  level=30)
    if vocab_size_key:
        cfg.merge_from_dict({vocab_size_key: len(vocab)})
    return vocab
