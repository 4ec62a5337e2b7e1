"""The word vocabulary of a run: built once from its training captions, recorded with what it was built from.

A run builds its vocabulary into ``<work_dir>/vocab.json`` (and :class:`WordVocabularyHook` also stores it in every
checkpoint). A ``vocab.json`` found in the work dir is reused only when it was built from the same captions with
the same options; otherwise the run stops with a message naming both sources (a vocabulary of other captions
would silently turn this run's new words into ``<unk>``). Testing never rebuilds: it reads the vocabulary of the
training run.
"""
import copy
import hashlib
import os.path as osp

from mmengine.logging import print_log

from .word_tokenize import unknown_word_rate
from .word_vocabulary import WordVocabulary, split_words

VOCAB_FILE_NAME = 'vocab.json'
#: the parts of a vocabulary's record that decide its words
_BUILD_KEYS = ('num_captions', 'captions_sha256', 'min_count', 'max_size')


def training_captions(dataset):
    """Captions of a built training set (``data_info['caption']`` of every sample, in order).

    Raises:
        KeyError: a sample has no caption (not a text-image training set).
        ValueError: the set has no sample.
    """
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


def _file_sha256(path):
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def caption_source(dataset, captions):
    """What a vocabulary is built from: the data set, its caption file (path, size, sha256) and the captions.

    Args:
        dataset: the built training set (a text-image set finds its annotation file with ``find_ann_file``).
        captions (list[str]): its training captions (:func:`training_captions`).

    Returns:
        dict: ``dataset``, ``caption_file``, ``caption_file_bytes``, ``caption_file_sha256`` (None when the set has
        no single caption file), ``num_captions`` and ``captions_sha256`` (what the words depend on).
    """
    find = getattr(dataset, 'find_ann_file', None)
    caption_file = osp.abspath(find()) if callable(find) else (getattr(dataset, 'ann_file', None) or None)
    has_file = caption_file is not None and osp.isfile(caption_file)
    return dict(dataset=type(dataset).__name__, caption_file=caption_file,
                caption_file_bytes=osp.getsize(caption_file) if has_file else None,
                caption_file_sha256=_file_sha256(caption_file) if has_file else None,
                num_captions=len(captions),
                captions_sha256=hashlib.sha256('\n'.join(captions).encode('utf-8')).hexdigest())


def _record(vocab):
    return dict(vocab.source or {}, min_count=vocab.min_count, max_size=vocab.max_size)


def describe(record):
    """One line naming a vocabulary's source, e.g. for error messages."""
    where = record.get('caption_file') or record.get('dataset', 'unknown captions')
    digest = str(record.get('caption_file_sha256') or record.get('captions_sha256'))[:12]
    return (f'{record.get("num_captions")} captions of {where} ({record.get("caption_file_bytes")} bytes, sha256 '
            f'{digest}...; min_count={record.get("min_count")}, max_size={record.get("max_size")})')


def check_built_from(vocab, expected, vocab_file):
    """Raise unless ``vocab`` was built from the captions and options of ``expected`` (a record as in
    :func:`caption_source` plus ``min_count`` / ``max_size``).

    Raises:
        ValueError: naming ``vocab_file``, both sources and how to go on.
    """
    if vocab.source is None:
        raise ValueError(f'{vocab_file} holds no record of the captions it was built from (written by an older '
                         f'version); this run trains on {describe(expected)}. Delete it (or train into another '
                         f'work dir) to build the vocabulary of this run.')
    saved = _record(vocab)
    if any(saved.get(key) != expected.get(key) for key in _BUILD_KEYS):
        raise ValueError(f'{vocab_file} was built from {describe(saved)}, but this run trains on '
                         f'{describe(expected)}: its word ids do not fit these captions. Delete it (or train into '
                         f'another work dir) to build the vocabulary of this run.')


def vocabulary_for_training(vocab_file, dataset, min_count=2, max_size=None, save=True):
    """The training vocabulary of a run: ``vocab_file`` when it was built from the same captions, else built.

    A new vocabulary is written only once complete, atomically (no partial or temporary file stays behind when
    building fails).

    Args:
        vocab_file (str): ``<work_dir>/vocab.json``.
        dataset: the built training set.
        min_count (int): minimum count of a kept word.
        max_size (int, optional): at most this many ids (the model's ``vocab_size``).
        save (bool): write a new vocabulary to ``vocab_file`` now. ``WordVocabularyHook`` writes it with the
            first checkpoint instead, so that a run that fails before leaves none behind. Default True.

    Returns:
        tuple[WordVocabulary, bool]: the vocabulary and whether it was built now.

    Raises:
        ValueError: ``vocab_file`` exists and was built from other captions or options (see
            :func:`check_built_from`).
    """
    captions = training_captions(dataset)
    source = caption_source(dataset, captions)
    if osp.isfile(vocab_file):
        vocab = WordVocabulary.load(vocab_file)
        check_built_from(vocab, dict(source, min_count=min_count, max_size=max_size), vocab_file)
        _log_unknown_words(vocab, captions, min_count)
        return vocab, False
    vocab = WordVocabulary.build(captions, min_count=min_count, max_size=max_size, source=source)
    _log_unknown_words(vocab, captions, min_count)
    if save:
        vocab.save(vocab_file)
    return vocab, True


def _log_unknown_words(vocab, captions, min_count):
    """One line: the share of the training words that become ``<unk>`` (seen under ``min_count`` times, or cut by
    the model's ``vocab_size``); test captions meet at least as many."""
    words = [split_words(c) for c in captions]
    print_log(f'word vocabulary: {100 * unknown_word_rate(words, vocab):.2f}% of the {sum(map(len, words))} words of '
              f'the {len(captions)} training captions are outside it (<unk>: seen under min_count={min_count} '
              f'times, or past the model\'s vocab_size)', logger='current')


def without_pipelines(dataset_cfg):
    """Copy of a dataset config with every ``pipeline`` emptied (captions only, no image is loaded)."""
    cfg = copy.deepcopy(dataset_cfg)
    stack = [cfg]
    while stack:
        node = stack.pop()
        for key in ('pipeline', 'text_pipeline'):
            if key in node:
                node[key] = [] if key == 'pipeline' else None
        for key in ('dataset', 'datasets'):
            child = node.get(key)
            stack.extend(child if isinstance(child, (list, tuple)) else [child] if child is not None else [])
    return cfg


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


def prepare_word_vocabulary(cfg, checkpoint=None, min_count=2):
    """Point the ``WordTokenize`` configs of ``cfg`` at the run's vocabulary, for code without a Runner.

    A Runner needs none of this (``WordVocabularyHook`` does it); code that builds a model and its pipelines
    from a config by itself (the inferencer, ONNX export, benchmarks) calls it. With ``checkpoint`` the
    vocabulary is the ``vocab.json`` saved next to it by the training run (never rebuilt, so ids cannot drift);
    without, it is built from ``cfg.train_dataloader.dataset`` into ``<cfg.work_dir>/vocab.json`` (or reused
    from there, as in training), with at most ``cfg.model.vocab_size`` ids.

    Args:
        cfg (mmengine.Config): the config, changed in place.
        checkpoint (str, optional): the checkpoint whose vocabulary to use.
        min_count (int): minimum count of a kept word when building.

    Returns:
        WordVocabulary: the vocabulary.
    """
    if checkpoint is not None:
        vocab_file = osp.join(osp.dirname(osp.abspath(checkpoint)), VOCAB_FILE_NAME)
        if not osp.isfile(vocab_file):
            raise FileNotFoundError(f'{vocab_file} not found: the word vocabulary of {checkpoint} is saved next to '
                                    f'it by the training run (copy it along with the checkpoint)')
        vocab = WordVocabulary.load(vocab_file)
    else:
        if not cfg.get('work_dir'):
            raise ValueError('prepare_word_vocabulary: cfg.work_dir is not set (the vocabulary is saved there)')
        from mmpretrain.registry import DATASETS
        dataset = DATASETS.build(without_pipelines(cfg.train_dataloader.dataset))
        vocab_file = osp.abspath(osp.join(cfg.work_dir, VOCAB_FILE_NAME))
        vocab, _ = vocabulary_for_training(vocab_file, dataset, min_count, cfg.model.get('vocab_size'))
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if cfg.get(key) is not None:
            _set_vocab_file(cfg[key], vocab_file)
    print_log(f'word vocabulary: {len(vocab)} ids from {vocab_file}', logger='current')
    return vocab
