"""Bad input data (issue 25, items 2 and 3): each case ends in a clear error or a one-line count at start-up.

One table over the gallery of tools/search.py, the image files of the data sets and their captions: each row sets up
a case on tiny generated files, runs it, and checks the error message -- or, when the case only warns, the printed
and logged output -- for the fragments that name the file or the count and the fix. Below the table: the checks
that are not one call (the header check runs once per process, the caption token count is exact, ``import plugins``
does not pay for transformers' CLIP, dependency noise is filtered).
"""
import contextlib
import json
import logging
import os
import os.path as osp
import pickle
import subprocess
import sys
import types
import warnings

import cv2
import numpy as np
import pytest
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmpretrain.registry import DATASETS

import plugins  # noqa: F401
from plugins.core.data.tokenizers import CLIPTokenize, WordVocabulary, vocabulary_for_training
from tests.helpers import REPO, cfg_option_args, demo_config, load_tool, save_random_model, tiny_options

#: an image model on Market-1501 data, its tiny variant (the ``Tiny Options`` of its demo's metafile entry)
IMAGE_CFG = demo_config(text=False, data='market1501', tiny=True)
TINY = tiny_options(IMAGE_CFG)
CAPTION = 'a man in a red jacket and black shoes.'


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp('bad_data_ckpt') / 'tiny.pth'
    save_random_model(IMAGE_CFG, path, 0, TINY)
    return str(path)


@pytest.fixture
def ctx(tmp_path, checkpoint):
    return types.SimpleNamespace(tmp=tmp_path, checkpoint=checkpoint)


def write_image(path, shape=(16, 8, 3), value=128):
    os.makedirs(osp.dirname(str(path)), exist_ok=True)
    assert cv2.imwrite(str(path), np.random.RandomState(value).randint(0, 255, shape).astype(np.uint8))
    return str(path)


def market(ctx, *broken):
    """A 4-image Market-1501 training folder; ``broken``: (file name, bytes) written as extra images."""
    root = ctx.tmp / 'market'
    for i, name in enumerate(('0001_c1s1_000001_01.jpg', '0001_c2s1_000002_01.jpg', '0002_c1s1_000003_01.jpg',
                              '0002_c2s1_000004_01.jpg')):
        write_image(root / 'bounding_box_train' / name, value=i)
    for name, data in broken:
        (root / 'bounding_box_train' / name).write_bytes(data)
    ctx.bad = str(root / 'bounding_box_train' / broken[0][0]) if broken else None
    return str(root)


def build_market(ctx, *broken, **options):
    return DATASETS.build(dict(type='Market1501', data_root=market(ctx, *broken), **options))


def cuhk_pedes(ctx, captions=(CAPTION, 'a woman in a blue coat.'), empty_image=False):
    """A 2-image CUHK-PEDES tree (train split) whose first image has ``captions``."""
    root = ctx.tmp / 'cuhk'
    records = [dict(id=1, split='train', file_path='a/1.png', captions=list(captions)),
               dict(id=2, split='train', file_path='a/2.png', captions=[CAPTION])]
    for i, rec in enumerate(records):
        write_image(root / 'imgs' / rec['file_path'], value=i)
    if empty_image:
        (root / 'imgs' / 'a' / '1.png').write_bytes(b'')
    ctx.bad = str(root / 'imgs' / 'a' / '1.png')
    (root / 'reid_raw.json').write_text(json.dumps(records))
    return str(root)


# ------------------------------------------------------------------------------------------ A: search gallery
def gallery(ctx):
    folder = ctx.tmp / 'gallery'
    ctx.images = [write_image(folder / f'000{i}_c1s1_00000{i}_01.jpg', (128, 64, 3), i) for i in range(1, 6)]
    return folder


def search(ctx, folder):
    return load_tool('search').main(
        [IMAGE_CFG, ctx.checkpoint, '--gallery', str(folder), '--query', ctx.images[0], '--topk', '3',
         '--out', str(ctx.tmp / 'out'), '--cfg-options', *cfg_option_args(TINY)])


def broken_link_in_gallery(ctx):
    folder = gallery(ctx)
    os.symlink(ctx.tmp / 'moved_away.jpg', folder / 'dead.jpg')
    outcome = search(ctx, folder)
    assert len(outcome['results']) == 3 and outcome['results'][0]['path'] == ctx.images[0]
    return outcome


def hidden_files_in_gallery(ctx):
    folder = gallery(ctx)
    (folder / '._0001_c1s1_000001_01.jpg').write_bytes(b'\x00\x05\x16\x07 mac resource fork')
    write_image(folder / '.hidden.jpg', (128, 64, 3), 9)
    write_image(folder / '.thumbnails' / 'x.jpg', (128, 64, 3), 8)
    outcome = search(ctx, folder)
    assert not [r for r in outcome['results'] if '/.' in r['path']], outcome['results']
    return outcome


# ------------------------------------------------------------------------------------------ B: image files
def zero_byte_image(ctx):
    build_market(ctx, ('0003_c1s1_000005_01.jpg', b''))


def not_an_image(ctx):
    build_market(ctx, ('0003_c1s1_000005_01.jpg', b'<html>404 not found</html>'))


def many_bad_images(ctx):
    build_market(ctx, *[(f'000{i}_c1s1_00000{i}_01.jpg', b'') for i in range(3, 8)])


def zero_byte_text_image(ctx):
    DATASETS.build(dict(type='CUHKPEDES', data_root=cuhk_pedes(ctx, empty_image=True)))


def bad_image_skipped(ctx):
    dataset = build_market(ctx, ('0003_c1s1_000005_01.jpg', b''), skip_bad_images=True)
    assert len(dataset) == 4 and ctx.bad not in [dataset.get_data_info(i)['img_path'] for i in range(4)]


def tiny_image(ctx):
    root = market(ctx)
    ctx.bad = write_image(osp.join(root, 'bounding_box_train', '0003_c1s1_000005_01.jpg'), (1, 1, 3))
    dataset = DATASETS.build(dict(type='Market1501', data_root=root))
    assert len(dataset) == 5  # warned, kept


# ------------------------------------------------------------------------------------------ C: captions
def long_and_emoji_captions_clip(ctx):
    captions = (' '.join(['word'] * 2000), 'a man in a red jacket \U0001F600 with a café latte.')
    DATASETS.build(dict(type='CUHKPEDES', data_root=cuhk_pedes(ctx, captions),
                        pipeline=[dict(type='CLIPTokenize')]))


def unknown_words_word_tokenizer(ctx):
    vocab_file = str(ctx.tmp / 'vocab.json')
    WordVocabulary(['a', 'man', 'in', 'red', 'jacket']).save(vocab_file)
    captions = (' '.join(['man'] * 150), 'a man in a red jacket with a naïve hat')
    DATASETS.build(dict(type='CUHKPEDES', data_root=cuhk_pedes(ctx, captions),
                        pipeline=[dict(type='WordTokenize', vocab_file=vocab_file)]))


def unknown_words_training_vocabulary(ctx):
    dataset = DATASETS.build(dict(type='CUHKPEDES', data_root=cuhk_pedes(ctx), verbose=False))
    vocabulary_for_training(str(ctx.tmp / 'vocab.json'), dataset, min_count=2)


# ------------------------------------------------------------------------------------------ D: errors first
def wrong_data_root_before_the_model(ctx):
    from plugins.core.datasets import check_data_layouts
    cfg = Config.fromfile(IMAGE_CFG)
    cfg.train_dataloader.dataset.data_root = '/nonexistent'
    check_data_layouts(cfg)


# (case, action, exception or None, fragments of its message -- or of the printed and logged output when no
#  exception -- formatted with the case's attributes, e.g. '{bad}' the broken file)
TABLE = [
    ('search: broken link in the gallery', broken_link_in_gallery, None,
     ['skipped 1 broken link (dead.jpg)', 'cosine similarity']),
    ('search: hidden and macOS ._ files in the gallery', hidden_files_in_gallery, None,
     ['skipped 3 hidden files (._0001_c1s1_000001_01.jpg, .hidden.jpg, .thumbnails)']),
    ('train set: zero-byte image', zero_byte_image, OSError,
     ['1 of the 5 images', '{bad} (zero bytes)', 'skip_bad_images=True']),
    ('train set: a file that is not an image', not_an_image, OSError, ['{bad} (cannot identify image file)']),
    ('train set: five zero-byte images, first three named', many_bad_images, OSError,
     ['5 of the 9 images', '{bad} (zero bytes)', 'and 2 more']),
    ('text train set: zero-byte image', zero_byte_text_image, OSError, ['CUHKPEDES', '{bad} (zero bytes)']),
    ('train set: unreadable image dropped on request', bad_image_skipped, None,
     ['skipped 1 unreadable image(s)', '{bad} (zero bytes)']),
    ('train set: 1x1 px image', tiny_image, None,
     ['1 of the 5 images', 'smaller than min_image_side=8 px', '{bad} (1x1 px)', 'min_image_side=0']),
    ('captions: 2000 words and an emoji, CLIP BPE', long_and_emoji_captions_clip, None,
     ["CUHKPEDES split 'train': 3 captions",
      '1 (33.33%) longer than the 77 tokens of CLIPTokenize are cut (the longest: 2000 tokens)',
      '1 hold 2 non-ASCII characters', 'byte tokens']),
    ('captions: over-long and unknown words, word tokenizer', unknown_words_word_tokenizer, None,
     ['1 (33.33%) longer than the 100 words of WordTokenize are cut (the longest: 150 words)',
      'dropped by the word tokenizer',
      '% of the words are outside the vocabulary']),
    ('training vocabulary: share of unknown words', unknown_words_training_vocabulary, None,
     ['12.50% of the 24 words of the 3 training captions are outside it', 'min_count=2']),
    ('launcher: wrong data_root found before any model is built', wrong_data_root_before_the_model,
     FileNotFoundError, ['/nonexistent', 'bounding_box_train/']),
]


@contextlib.contextmanager
def logged():
    """The messages logged through the current MMLogger inside the block (its handlers print to a stream that
    pytest's capture may not see)."""
    records = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)


@pytest.mark.parametrize('case,action,error,fragments', TABLE, ids=[row[0] for row in TABLE])
def test_bad_data_is_named_or_counted(case, action, error, fragments, ctx, capsys):
    with logged() as log:
        if error is None:
            action(ctx)
            message = capsys.readouterr().out + '\n'.join(log)
        else:
            with pytest.raises(error) as info:
                action(ctx)
            message = str(info.value)
    for fragment in fragments:
        assert fragment.format(**vars(ctx)) in message, (case, fragment, message)
    if error is None:  # a count is one line, not one per file
        lines = [line for line in message.splitlines() if any(f.format(**vars(ctx)) in line for f in fragments)]
        assert lines and all(len(line) < 1000 for line in lines), lines


# ------------------------------------------------------------------------------------------ beyond the table
def test_header_check_runs_once_per_process_not_in_workers(tmp_path, monkeypatch):
    """Workers get the dataset forked or unpickled: neither runs ``load_data_list`` (nor its header check) again."""
    from plugins.core.datasets import base
    calls = []
    real = base.read_image_sizes
    monkeypatch.setattr(base, 'read_image_sizes', lambda paths: calls.append(len(paths)) or real(paths))
    dataset = build_market(types.SimpleNamespace(tmp=tmp_path), verbose=False)
    assert calls == [4]
    copy = pickle.loads(pickle.dumps(dataset))  # what a spawn-started DataLoader worker receives
    assert len(copy) == 4 and calls == [4]


def test_header_sizes_match_the_decoded_images(tmp_path):
    from plugins.core.datasets.image_headers import read_image_sizes
    paths = [write_image(tmp_path / f'x{i}.{ext}', (h, w, 3)) for i, (ext, h, w) in
             enumerate([('jpg', 37, 11), ('png', 5, 300), ('bmp', 64, 32), ('jpeg', 1, 1)])]
    paths.append(str(tmp_path / 'x.webp'))
    assert cv2.imwrite(paths[-1], np.zeros((9, 7, 3), np.uint8))  # no parser here: PIL reads its header
    assert read_image_sizes(paths * 200)[:5] == [(11, 37), (300, 5), (32, 64), (1, 1), (7, 9)]


def test_clip_token_counts_are_exact():
    tokenizer = CLIPTokenize()
    captions = [CAPTION, ' '.join(['word'] * 300), 'he\'s  wearing &amp; holding a_b "red-shirt"!!! 12345',
                'a man \U0001F600 in a café wearing a naïve hat \u2602', 'T-SHIRT, JEANS;   SHOES']
    expected = [int(np.count_nonzero(tokenizer.tokenize(c))) - 2 for c in captions[:1] + captions[2:]]
    counts = tokenizer.token_counts(captions)
    assert counts[:1] + counts[2:] == expected and counts[1] == 300


def test_import_does_not_load_transformers_clip():
    """``import plugins`` (every launcher) no longer builds transformers' CLIP modules; IRRA stays registered."""
    code = ('import sys, plugins; from mmpretrain.registry import MODELS; assert MODELS.get("IRRA") is not None; '
            'print(sorted(m for m in sys.modules if m.startswith("transformers.models")))')
    out = subprocess.run([sys.executable, '-c', code], cwd=REPO, capture_output=True, text=True, check=True,
                         env={**os.environ, 'OMP_NUM_THREADS': '1'}).stdout
    assert out.strip() == '[]', out


def test_dependency_noise_is_filtered():
    from plugins.core.utils.log_filters import RUN_LOG_FILTER, install_run_log_filter
    install_run_log_filter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.warn('Fail to import ``MultiScaleDeformableAttention`` from ``mmcv.ops``', UserWarning)
        warnings.warn('a warning of the run', UserWarning)
    assert [str(w.message) for w in caught] == ['a warning of the run']
    env = ('\n    PyTorch: 2.1\n    PyTorch compiling details: PyTorch built with:\n  - GCC 13.3\n  - Build settings: '
           + 'X=1, ' * 400 + '\n\n    TorchVision: 0.2\n')
    record = logging.LogRecord('mmengine', logging.INFO, '', 0, env, None, None)
    RUN_LOG_FILTER.filter(record)
    assert 'Build settings' not in record.msg and 'TorchVision: 0.2' in record.msg and len(record.msg) < 200
    record = logging.LogRecord('mmengine', logging.WARNING, '', 0, '"FileClient" will be deprecated in future.',
                               None, None)
    RUN_LOG_FILTER.filter(record)
    assert record.levelno == logging.DEBUG
