"""No silently wrong answers from the inference tools (issue 19: items 3, 7 and part of 8).

One table over tools/search.py, ReIDInferencer, tools/visualize_ranking.py and tools/export_onnx.py: each row
sets up a case on small random models and the generated demo data, runs it, and checks the clear error or
warning (the message fragments) and then that nothing is left stale or half-written (index folder, output
folder). Rows without an error also check that the answer is right again (a re-embedded image finds itself).
"""
import json
import os
import os.path as osp
import shutil
import sys
import types

import cv2
import numpy as np
import PIL.Image
import pytest
import torch

import plugins  # noqa: F401
from plugins.core.apis import GalleryIndex, ReIDInferencer
from plugins.core.apis.gallery_index import file_stamp
from plugins.core.apis.query_checks import looks_like_path
from plugins.core.data.tokenizers.word_vocabulary import WordVocabulary
from plugins.core.visualization import grid_shape, rows_per_picture
from plugins.core.visualization.ranking import MAX_PICTURE_PIXELS
from tests.helpers import cfg_option_args, config_dicts, demo_config, load_tool, save_random_model, tiny_options

#: the models of the cases, by what they embed: images only (its tiny variant, on the demo's Market-1501), captions
#: through a word vocabulary, captions through CLIP's BPE tokenizer (configs/<method>/metafile.yml, the configs)
CONFIGS = dict(image=demo_config(text=False, data='market1501', tiny=True),
               word_text=demo_config(hook='WordVocabularyHook'),
               clip_text=demo_config(tokenizer='CLIPTokenize'))
IMAGE_CFG = CONFIGS['image']
TINY = tiny_options(IMAGE_CFG)
TINY_OPTIONS = cfg_option_args(TINY)
VOCABULARY_WORDS = ['a', 'man', 'woman', 'in', 'red', 'blue', 'jacket', 'jeans', 'with', 'black', 'shoes', 'and',
                    'bag']
GALLERY_SIZE = 12


def random_checkpoint(config, path, seed, options=None):
    save_random_model(config, path, seed, options)
    return str(path)


@pytest.fixture(scope='module')
def ckpts(tmp_path_factory):
    folder = tmp_path_factory.mktemp('safety_checkpoints')
    vocab = WordVocabulary(VOCABULARY_WORDS)
    vocab.save(str(folder / 'word_text' / 'vocab.json'))  # the model reads the vocabulary next to its checkpoint
    return dict(image=random_checkpoint(IMAGE_CFG, folder / 'image' / 'tiny.pth', 0, TINY),
                other=random_checkpoint(IMAGE_CFG, folder / 'other' / 'tiny.pth', 1, TINY),
                clip_text=random_checkpoint(CONFIGS['clip_text'], folder / 'clip_text' / 'model.pth', 0),
                # word ids < the config's vocab_size
                word_text=random_checkpoint(CONFIGS['word_text'], folder / 'word_text' / 'model.pth', 0))


@pytest.fixture
def ctx(demo, ckpts, tmp_path, monkeypatch):
    """One case's state: a gallery folder of 12 Market images (ids differ along the list) and the models."""
    market = demo / 'market1501' / 'Market-1501-v15.09.15'
    images = sorted(str(p) for p in (market / 'bounding_box_test').glob('*.jpg') if not p.name.startswith('-1'))
    gallery = tmp_path / 'gallery'
    gallery.mkdir()
    for path in images[:GALLERY_SIZE]:
        shutil.copy(path, gallery)
    return types.SimpleNamespace(tmp=tmp_path, demo=demo, ckpts=ckpts, monkeypatch=monkeypatch, spare=images[-1],
                                 market=demo / 'market1501', gallery=gallery, images=sorted(gallery.glob('*.jpg')))


# ------------------------------------------------------------------------------------------ runners
def search(ctx, model, query, *extra):
    """tools/search.py with ``model`` a key of ``CONFIGS`` or a checkpoint path of the image model; top 4 into
    tmp/out."""
    config = CONFIGS.get(model, IMAGE_CFG)
    ckpt = ctx.ckpts.get(model, model)
    argv = [config, ckpt, '--gallery', str(ctx.gallery), '--query', str(query), '--topk', '4',
            '--out', str(ctx.tmp / 'out'), *extra]
    if config == IMAGE_CFG:
        argv += ['--cfg-options', *TINY_OPTIONS]
    return load_tool('search').main(argv)


def indexed_search(ctx, ckpt, query):
    """Image-model search of the case's gallery with ``--index-dir tmp/index``."""
    return search(ctx, ckpt, query, '--index-dir', str(ctx.tmp / 'index'))


def write_image(path, array):
    assert cv2.imwrite(str(path), array)
    return str(path)


# ------------------------------------------------------------------------------------------ checks
def no_temporary_files(folder):
    leftovers = [name for name in os.listdir(folder) if name.startswith('.')]
    assert not leftovers, leftovers


def finds_itself(outcome, query):
    top = outcome['results'][0]
    assert top['path'] == str(query) and top['score'] == pytest.approx(1.0, abs=1e-4), outcome['results']


def index_is_current(ctx):
    """The saved index lists exactly the gallery files, each with its current size and mtime."""
    index = GalleryIndex.load(str(ctx.tmp / 'index'))
    paths = sorted(str(p) for p in ctx.gallery.rglob('*.jpg'))
    assert index.paths == paths and index.stamps == [file_stamp(p) for p in paths]
    no_temporary_files(ctx.tmp)
    return index


def nothing_written(ctx):
    assert not (ctx.tmp / 'out').exists() and not (ctx.tmp / 'index').exists()
    no_temporary_files(ctx.tmp)


def saved_warnings(outcome, count):
    with open(outcome['json']) as f:
        saved = json.load(f)
    assert saved['warnings'] == outcome['warnings'] and len(saved['warnings']) == count, saved['warnings']
    assert saved['score_meaning'].startswith('cosine similarity')
    assert osp.isfile(outcome['picture']) and len(saved['results']) == 4
    no_temporary_files(osp.dirname(outcome['json']))


# ------------------------------------------------------------------------------------------ stale index
def replaced_image(ctx):
    target = ctx.images[3]
    ctx.name = target.name
    indexed_search(ctx, 'image', target)
    shutil.copyfile(ctx.spare, target)  # another person under the same name
    ctx.outcome = indexed_search(ctx, 'image', target)
    return ctx.outcome


def check_replaced_image(ctx, outcome):
    assert not outcome['index_reused']
    finds_itself(outcome, ctx.images[3])
    index_is_current(ctx)


def added_and_removed_images(ctx):
    first = indexed_search(ctx, 'image', ctx.images[0])
    ctx.before = GalleryIndex.load(str(ctx.tmp / 'index'))
    os.remove(ctx.images[5])
    ctx.added = ctx.gallery / 'new.jpg'
    shutil.copyfile(ctx.spare, ctx.added)
    assert not first['index_reused']
    return indexed_search(ctx, 'image', ctx.added)


def check_added_and_removed(ctx, outcome):
    finds_itself(outcome, ctx.added)
    index = index_is_current(ctx)
    # only the new image was embedded: every kept row is the saved one, bit for bit
    for row, path in enumerate(ctx.before.paths):
        if path != str(ctx.images[5]):
            assert torch.equal(index.features[index.paths.index(path)], ctx.before.features[row])


def checkpoint_overwritten(ctx):
    ckpt = str(ctx.tmp / 'model.pth')
    shutil.copyfile(ctx.ckpts['image'], ckpt)
    indexed_search(ctx, ckpt, ctx.images[2])
    stat = os.stat(ckpt)
    shutil.copyfile(ctx.ckpts['other'], ckpt)  # other weights, same size, the old time put back (cp -p)
    os.utime(ckpt, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert os.stat(ckpt).st_size == stat.st_size and os.stat(ckpt).st_mtime_ns == stat.st_mtime_ns
    return indexed_search(ctx, ckpt, ctx.images[2])


def check_checkpoint_overwritten(ctx, outcome):
    assert not outcome['index_reused']
    finds_itself(outcome, ctx.images[2])
    index = index_is_current(ctx)
    assert index.meta['weights_sha1'] == load_tool('search').weights_sha1(ReIDInferencer(
        IMAGE_CFG, ctx.ckpts['other'], cfg_options=TINY).model)


# ------------------------------------------------------------------------------------------ queries
def mistyped_path_caption_model(ctx):
    ctx.typo = str(ctx.images[1]) + 'g'  # 0001_c1s1_000151_01.jpgg
    return search(ctx, 'clip_text', ctx.typo, '--index-dir', str(ctx.tmp / 'index'))


def missing_file_in_folder_caption_model(ctx):
    return search(ctx, 'clip_text', 'gallery/no_such_person')


def mistyped_path_image_model(ctx):
    return search(ctx, 'image', str(ctx.tmp / 'query.jpgg'))


def mistyped_path_inferencer(ctx):
    inferencer = ReIDInferencer(CONFIGS['clip_text'], ctx.ckpts['clip_text'])
    return inferencer.extract_texts(['a man in red', '/data/q/0049000.jpgg'])


def unknown_words_word_vocabulary(ctx):
    return search(ctx, 'word_text', 'qwxz blorf zzyzx')


def no_word_word_vocabulary(ctx):
    return search(ctx, 'word_text', '!!! ???')


def unknown_words_clip_bpe(ctx):
    return search(ctx, 'clip_text', 'qxzvbw jjkqpl vvbnmz')


def tokenizer_room(model, tokenizer):
    """How many caption tokens (words) the test tokenizer of ``CONFIGS[model]`` keeps, read from the config."""
    from mmengine.config import Config
    found = config_dicts(Config.fromfile(CONFIGS[model]).test_dataloader.to_dict(),
                         lambda d: d.get('type') == tokenizer)
    assert found, (model, tokenizer)
    return found[0].get('context_length', 77) - 2 if tokenizer == 'CLIPTokenize' else found[0].get('max_length', 100)


def long_caption_clip_bpe(ctx):
    """Issue 33: 5,000 words were cut to the model's context without a word."""
    ctx.clip_room = tokenizer_room('clip_text', 'CLIPTokenize')
    return search(ctx, 'clip_text', ' '.join(['man'] * 5000))


def long_caption_word_vocabulary(ctx):
    ctx.word_room = tokenizer_room('word_text', 'WordTokenize')
    return search(ctx, 'word_text', ' '.join(['red'] * 150))


def long_caption_inferencer(ctx):
    ctx.clip_room = tokenizer_room('clip_text', 'CLIPTokenize')
    inferencer = ReIDInferencer(CONFIGS['clip_text'], ctx.ckpts['clip_text'])
    warnings = inferencer.query_warnings(caption='a man in a red jacket ' * 20)
    print(*warnings, sep='\n')
    ctx.warnings = warnings


def tiny_image(ctx):
    return search(ctx, 'image', write_image(ctx.tmp / 'tiny.png', np.full((1, 1, 3), 90, np.uint8)))


def blank_image(ctx):
    return search(ctx, 'image', write_image(ctx.tmp / 'blank.png', np.full((128, 64, 3), 127, np.uint8)))


def known_caption_word_vocabulary(ctx):
    return search(ctx, 'word_text', 'a man in a red jacket with a black bag')


def ordinary_image(ctx):
    return search(ctx, 'image', ctx.images[4])


def warned(count):
    return lambda ctx, outcome: saved_warnings(outcome, count)


# ------------------------------------------------------------------------------------------ visualize_ranking
def market_subset_options(ctx):
    """A tenth of the demo queries and half of the gallery (the data set lists the queries first)."""
    root = ctx.market / 'Market-1501-v15.09.15'
    n_query = sum(1 for p in (root / 'query').iterdir() if not p.name.startswith('-1'))
    n_gallery = sum(1 for p in (root / 'bounding_box_test').iterdir() if not p.name.startswith('-1'))
    indices = list(range(0, n_query, 10)) + list(range(n_query, n_query + n_gallery, 2))
    return TINY_OPTIONS + [f'test_dataloader.dataset.data_root={ctx.market}',
                           f'test_dataloader.dataset.indices={indices}']


def ranking_split_over_pictures(ctx):
    out = ctx.tmp / 'out'
    out.mkdir()
    for stale in ('ranking.png', 'ranking_9.png'):  # pictures of an earlier, larger run
        write_image(out / stale, np.zeros((4, 4, 3), np.uint8))
    height, width = grid_shape(2, 3, (128, 64), with_titles=True)
    ctx.max_pixels = height * width  # two query rows per picture
    return load_tool('visualize_ranking').main(
        [IMAGE_CFG, ctx.ckpts['image'], '--num-queries', '5', '--topk', '3', '--out', str(out),
         '--max-pixels', str(ctx.max_pixels), '--cfg-options', *market_subset_options(ctx)])


def check_ranking_pictures(ctx, outcome):
    out = ctx.tmp / 'out'
    assert sorted(os.listdir(out)) == ['ranking.json', 'ranking_1.png', 'ranking_2.png', 'ranking_3.png']
    with open(outcome['json']) as f:
        report = json.load(f)
    assert report['pictures'] == ['ranking_1.png', 'ranking_2.png', 'ranking_3.png']
    assert report['distance_meaning'].startswith('squared euclidean distance')
    assert [q['picture'] for q in report['queries']] == ['ranking_1.png'] * 2 + ['ranking_2.png'] * 2 + \
        ['ranking_3.png']
    for name, rows in zip(report['pictures'], (2, 2, 1)):
        with PIL.Image.open(out / name) as picture:
            picture.load()
            # each picture has its title strip (what the numbers are) and stays within the limit
            assert picture.size[::-1] == grid_shape(rows, 3, (128, 64), with_titles=True)
            assert picture.size[0] * picture.size[1] <= ctx.max_pixels


def ranking_row_too_large(ctx):
    return load_tool('visualize_ranking').main(
        [IMAGE_CFG, str(ctx.tmp / 'never_loaded.pth'), '--num-queries', '3', '--topk', '1000',
         '--out', str(ctx.tmp / 'out')])


# ------------------------------------------------------------------------------------------ export_onnx
def export(ctx, *extra, missing=None, ckpt=None):
    if missing is not None:
        ctx.monkeypatch.setitem(sys.modules, missing, None)  # `import missing` now fails as if not installed
    return load_tool('export_onnx').main([IMAGE_CFG, ckpt or str(ctx.tmp / 'never_loaded.pth'), '--out',
                                          str(ctx.tmp / 'work' / 'onnx'), '--cfg-options', *TINY_OPTIONS, *extra])


def export_failing_midway(ctx):
    pytest.importorskip('onnx', reason='the export checks for onnx first')
    return export(ctx, '--towers', 'text', '--text-length', '16', ckpt=ctx.ckpts['image'])


def export_failing_into_old_export(ctx):
    pytest.importorskip('onnx', reason='the export checks for onnx first')
    old = ctx.tmp / 'work' / 'onnx'
    old.mkdir(parents=True)
    (old / 'image.onnx').write_bytes(b'earlier export')
    (old / 'export.json').write_text('{}')
    return export(ctx, '--towers', 'text', '--text-length', '16', ckpt=ctx.ckpts['image'])


def check_old_export_intact(ctx, outcome):
    old = ctx.tmp / 'work' / 'onnx'
    assert sorted(os.listdir(old)) == ['export.json', 'image.onnx']
    assert (old / 'image.onnx').read_bytes() == b'earlier export'
    no_temporary_files(ctx.tmp / 'work')


def nothing_exported(ctx, outcome=None):
    assert sorted(os.listdir(ctx.tmp)) == ['gallery'], os.listdir(ctx.tmp)


PIP_HINT = ['pip install -e ".[deploy]"', 'pip install onnx onnxruntime onnxscript']

# (case, action, exception or None, fragments of the message -- or of the printed output when no exception --
#  formatted with the case's attributes, e.g. '{tmp}' its folder; check of the state afterwards)
TABLE = [
    ('search: gallery image replaced after indexing', replaced_image, None,
     ['1 changed ({name})', 'updating it', 'cosine similarity'], check_replaced_image),
    ('search: gallery images added and removed', added_and_removed_images, None,
     ['1 added (new.jpg)', '1 removed', 'embedding 1 gallery images'], check_added_and_removed),
    ('search: checkpoint overwritten, same size and time', checkpoint_overwritten, None,
     ['other model weights', 'rebuilding it'], check_checkpoint_overwritten),
    ('search: mistyped image path, caption model', mistyped_path_caption_model, FileNotFoundError,
     ['{typo}', 'looks like an image path'], lambda c, o: nothing_written(c)),
    ('search: missing file in a folder, caption model', missing_file_in_folder_caption_model, FileNotFoundError,
     ["'gallery/no_such_person'", 'not found'], lambda c, o: nothing_written(c)),
    ('search: mistyped image path, image model', mistyped_path_image_model, FileNotFoundError,
     ['{tmp}/query.jpgg'], lambda c, o: nothing_written(c)),
    ('inferencer: mistyped image path as a caption', mistyped_path_inferencer, FileNotFoundError,
     ['/data/q/0049000.jpgg', 'looks like an image path'], lambda c, o: nothing_written(c)),
    ('search: caption of unknown words (word vocabulary)', unknown_words_word_vocabulary, None,
     ['WARNING', 'none of its 3 words (qwxz, blorf, zzyzx)', 'word vocabulary (15 words)'], warned(1)),
    ('search: caption without a word (word vocabulary)', no_word_word_vocabulary, None,
     ['WARNING', 'has no word'], warned(1)),
    ('search: caption of unknown words (CLIP BPE)', unknown_words_clip_bpe, None,
     ['WARNING', 'none of its 3 words', 'CLIPTokenizer vocabulary'], warned(1)),
    ('search: caption longer than the context (CLIP BPE)', long_caption_clip_bpe, None,
     ['WARNING', 'has 5000 tokens, more than the {clip_room} tokens that CLIPTokenize keeps', 'cut',
      '(19999 characters)'], warned(1)),
    ('search: caption longer than the word limit (word vocabulary)', long_caption_word_vocabulary, None,
     ['WARNING', 'has 150 words, more than the {word_room} words that WordTokenize keeps'], warned(1)),
    ('inferencer: caption longer than the context', long_caption_inferencer, None,
     ['has 120 tokens, more than the {clip_room} tokens that CLIPTokenize keeps'],
     lambda c, o: len(c.warnings) == 1),
    ('search: 1x1 px image', tiny_image, None, ['WARNING', 'tiny.png is 1x1 px (under 8 px'], warned(1)),
    ('search: blank image', blank_image, None, ['WARNING', 'blank.png is blank'], warned(1)),
    ('search: known caption, no warning (word vocabulary)', known_caption_word_vocabulary, None,
     ['cosine similarity'], warned(0)),
    ('search: ordinary image, no warning', ordinary_image, None, ['cosine similarity'], warned(0)),
    ('visualize_ranking: pictures over the pixel limit are split', ranking_split_over_pictures, None,
     ['{tmp}/out/ranking_3.png', 'squared euclidean distance'], check_ranking_pictures),
    ('visualize_ranking: one row over the limit is refused first', ranking_row_too_large, ValueError,
     ['65500 px a side', '--topk (now 1000)', '--cell-size', '--max-pixels'], lambda c, o: nothing_written(c)),
    ('export_onnx: onnx not installed', lambda c: export(c, missing='onnx'), ImportError,
     ['onnx (', *PIP_HINT], nothing_exported),
    ('export_onnx: onnxruntime not installed, --check', lambda c: export(c, '--check', missing='onnxruntime'),
     ImportError, ['onnxruntime (', *PIP_HINT], nothing_exported),
    ('export_onnx: onnxscript not installed, --dynamo', lambda c: export(c, '--dynamo', missing='onnxscript'),
     ImportError, ['onnxscript (', *PIP_HINT], nothing_exported),
    ('export_onnx: export fails, no folder left', export_failing_midway, ValueError, ['no text tower'],
     nothing_exported),
    ('export_onnx: export fails, earlier export kept', export_failing_into_old_export, ValueError,
     ['no text tower'], check_old_export_intact),
]


@pytest.mark.parametrize('case,action,error,fragments,check', TABLE, ids=[row[0] for row in TABLE])
def test_no_silently_wrong_answer(case, action, error, fragments, check, ctx, capsys):
    if error is None:
        outcome = action(ctx)
        message = capsys.readouterr().out
    else:
        with pytest.raises(error) as info:
            action(ctx)
        outcome, message = None, str(info.value)
    for fragment in fragments:
        assert fragment.format(**vars(ctx)) in message, (fragment, message)
    check(ctx, outcome)


# ------------------------------------------------------------------------------------------ units
def test_the_issues_ranking_fits_in_pictures_pil_opens():
    """``--num-queries 1000 --topk 500`` at the default limit: pictures of whole rows, each one PIL opens."""
    assert MAX_PICTURE_PIXELS == PIL.Image.MAX_IMAGE_PIXELS
    per_picture = rows_per_picture(1000, 500, (128, 64), with_titles=True)
    height, width = grid_shape(per_picture, 500, (128, 64), with_titles=True)
    assert height * width <= PIL.Image.MAX_IMAGE_PIXELS and max(height, width) <= 65500
    # one row more would not fit: the pictures are as full as the limit allows
    assert grid_shape(per_picture + 1, 500, (128, 64), with_titles=True)[0] * width > PIL.Image.MAX_IMAGE_PIXELS
    assert per_picture == 17 and width == 34076  # 59 pictures of 34076 x 2532 px
    assert rows_per_picture(3, 500, (128, 64)) == 3


def test_changed_files_compares_size_and_mtime(tmp_path):
    files = [tmp_path / name for name in ('a.jpg', 'b.jpg', 'c.jpg')]
    for f in files:
        f.write_bytes(b'abcd')
    paths = [str(f) for f in files]
    index = GalleryIndex(backend='torch').add(torch.randn(3, 4), paths, stamps=[file_stamp(p) for p in paths])
    assert index.changed_files(paths) == dict(added=[], removed=[], changed=[])
    stamp = os.stat(paths[1]).st_mtime_ns
    files[1].write_bytes(b'wxyz')  # same size, new content: only the time tells
    os.utime(paths[1], ns=(stamp + 1, stamp + 1))
    files[2].write_bytes(b'abcde')  # same time, other size
    os.utime(paths[2], ns=(os.stat(paths[0]).st_mtime_ns,) * 2)
    assert index.changed_files(paths[1:] + [str(tmp_path / 'd.jpg')]) == dict(
        added=[str(tmp_path / 'd.jpg')], removed=[paths[0]], changed=paths[1:])
    # an index saved before the stamps existed (format 1) counts every file as changed
    index.save(tmp_path / 'index')
    meta = tmp_path / 'index' / 'gallery_index.json'
    state = json.loads(meta.read_text())
    state['version'] = 1
    del state['stamps']
    meta.write_text(json.dumps(state))
    assert GalleryIndex.load(tmp_path / 'index').changed_files(paths)['changed'] == paths


@pytest.mark.parametrize('text,path_like', [
    ('/data/q/0049000.jpgg', True), ('0049000.JPG', True), ('query.jpeg2', True), ('gallery/no_such', True),
    ('./q', True), ('a photo of me.png', True), ('a man in a red jacket.', False), ('a black/white coat', False),
    ('jeans', False), ('he wears a t-shirt, jeans and shoes', False)])
def test_looks_like_path(text, path_like):
    assert looks_like_path(text) is path_like
