"""ReIDInferencer, GalleryIndex and tools/search.py on the generated demo data, with small random models.

A random image model (a demo's tiny variant, the ``Tiny Options`` of its metafile entry, e.g. a quarter-width
ResNet-18) already ranks the demo people by their clothing colours, which is enough to check that
search finds a query's identity; a checkpoint is written with ``save_checkpoint`` (no training).
"""
import json
import os
import os.path as osp
import shutil

import cv2
import numpy as np
import pytest
import torch
from mmpretrain.registry import DATASETS

import plugins  # noqa: F401
from plugins.core.apis import GalleryIndex, ReIDInferencer, faiss_available
from plugins.core.data.collate import reid_collate
from plugins.core.visualization import grid_shape
from tests.helpers import cfg_option_args, demo_config, load_tool, save_random_model, tiny_options

#: an image model on the demo's Market-1501 (its tiny variant) and a caption model, CLIP-tokenised
IMAGE_CFG = demo_config(text=False, data='market1501', tiny=True)
TINY = tiny_options(IMAGE_CFG)
CAPTION_CFG = demo_config(tokenizer='CLIPTokenize')


def market_pid(path):
    return int(osp.basename(path).split('_')[0])


def random_checkpoint(config, path, seed, options=None):
    return save_random_model(config, path, seed, options)


@pytest.fixture(scope='module')
def market(demo):
    root = demo / 'market1501' / 'Market-1501-v15.09.15'
    return dict(root=str(demo / 'market1501'), query=sorted(str(p) for p in (root / 'query').glob('*.jpg')),
                gallery=sorted(str(p) for p in (root / 'bounding_box_test').glob('*.jpg')))


@pytest.fixture(scope='module')
def image_model(tmp_path_factory, market):
    ckpt = tmp_path_factory.mktemp('image_model') / 'tiny.pth'
    model = random_checkpoint(IMAGE_CFG, ckpt, seed=0, options=TINY)
    options = dict(TINY, **{'test_dataloader.dataset.data_root': market['root']})
    return dict(ckpt=str(ckpt), model=model, options=options,
                inferencer=ReIDInferencer(IMAGE_CFG, str(ckpt), cfg_options=options))


@pytest.fixture(scope='module')
def caption_ckpt(tmp_path_factory):
    ckpt = tmp_path_factory.mktemp('caption_model') / 'tiny.pth'
    random_checkpoint(CAPTION_CFG, ckpt, seed=0)
    return str(ckpt)


@pytest.fixture(scope='module')
def gallery_index(image_model, market):
    feats = image_model['inferencer'].extract_images(market['gallery'], batch_size=64)
    return GalleryIndex(backend='torch').add(feats, market['gallery'], pids=[market_pid(p) for p in market['gallery']])


# ------------------------------------------------------------------------------------------ inferencer
def test_inferencer_loads_the_checkpoint(image_model):
    inferencer = image_model['inferencer']
    assert not inferencer.model.training
    saved = image_model['model'].state_dict()
    for key, value in inferencer.model.state_dict().items():
        assert torch.equal(value, saved[key]), key
    # the comparison means something: another random init differs
    other = random_checkpoint(IMAGE_CFG, osp.join(osp.dirname(image_model['ckpt']), 'other.pth'), seed=1,
                              options=TINY).state_dict()
    assert any(not torch.equal(value, saved[key]) for key, value in other.items() if value.is_floating_point())


def test_image_features_are_the_test_loop_features(image_model):
    inferencer = image_model['inferencer']
    dataset = DATASETS.build(inferencer.cfg.test_dataloader.dataset)
    picked = list(range(len(dataset) - 5, len(dataset)))  # gallery images
    reference = inferencer.model.test_step(reid_collate([dataset[i] for i in picked]))
    reference = torch.stack([s.pred_feature for s in reference])
    paths = [dataset.get_data_info(i)['img_path'] for i in picked]

    feats = inferencer.extract_images(paths, batch_size=2)
    assert len(feats) == 5
    torch.testing.assert_close(feats, reference, rtol=1e-4, atol=1e-5)
    # decoded arrays (BGR, as cv2 reads) skip the loading transform and give the same features
    arrays = inferencer.extract_images([cv2.imread(p) for p in paths[::-1]])
    torch.testing.assert_close(arrays, reference.flip(0), rtol=1e-4, atol=1e-5)


def test_text_method_embeds_captions_and_images(caption_ckpt, market, image_model):
    inferencer = ReIDInferencer(CAPTION_CFG, caption_ckpt)
    assert inferencer.has_text
    captions = ['a man in a red jacket and blue jeans', 'a woman with a yellow skirt', 'a man in a red jacket '
                'and blue jeans']
    texts = inferencer.extract_texts(captions, batch_size=2)
    images = inferencer.extract_images(market['gallery'][:2])
    assert len(images) == 2 and texts.shape == (3, images.shape[1])  # one embedding space
    torch.testing.assert_close(texts.norm(dim=1), torch.ones(3))  # its test features are L2-normalised
    torch.testing.assert_close(texts[0], texts[2], rtol=1e-4, atol=1e-5)  # batch position does not matter
    assert not torch.allclose(texts[0], texts[1], atol=1e-3)
    with pytest.raises(ValueError, match='no text tower'):
        image_model['inferencer'].extract_texts('a man in a red jacket')


# ------------------------------------------------------------------------------------------ search
def test_search_finds_the_query_identity(image_model, market, gallery_index):
    queries = market['query'][::5]
    scores, indices = gallery_index.search(image_model['inferencer'].extract_images(queries), topk=10)
    assert scores.shape == indices.shape == (len(queries), 10)
    assert bool((scores[:, :-1] >= scores[:, 1:]).all())  # best first
    hits = [market_pid(q) in {gallery_index.pids[j] for j in row} for q, row in zip(queries, indices.tolist())]
    # chance is about 0.3 (about 7 images per id among 220); the random net sees the clothing colours
    assert np.mean(hits) >= 0.6, hits
    # an image of the gallery finds itself first
    scores, indices = gallery_index.search(image_model['inferencer'].extract_images(market['gallery'][7]), topk=3)
    assert int(indices[0, 0]) == 7 and float(scores[0, 0]) == pytest.approx(1.0, abs=1e-5)


def test_index_save_load_round_trip(gallery_index, tmp_path):
    queries = gallery_index.features[::11] + 0.01 * torch.randn_like(gallery_index.features[::11])
    scores, indices = gallery_index.search(queries, topk=5)
    gallery_index.meta = dict(checkpoint='x.pth')
    out = tmp_path / 'index'
    gallery_index.save(out)
    loaded = GalleryIndex.load(out, backend='torch')
    assert loaded.paths == gallery_index.paths and loaded.pids == gallery_index.pids
    assert loaded.meta == dict(checkpoint='x.pth') and loaded.camids is None
    loaded_scores, loaded_indices = loaded.search(queries, topk=5)
    assert torch.equal(loaded_indices, indices)
    torch.testing.assert_close(loaded_scores, scores)
    # saving again replaces the index as a whole and leaves no temporary folder behind
    GalleryIndex(backend='torch').add(torch.randn(3, 64), ['a', 'b', 'c']).save(out)
    assert len(GalleryIndex.load(out)) == 3
    assert sorted(os.listdir(tmp_path)) == ['index']
    # a folder that is not an index is never replaced
    (tmp_path / 'photos').mkdir()
    (tmp_path / 'photos' / 'a.jpg').write_bytes(b'x')
    with pytest.raises(FileExistsError):
        loaded.save(tmp_path / 'photos')


@pytest.mark.skipif(not faiss_available(), reason='faiss is not installed (pip install faiss-cpu)')
def test_faiss_matches_torch(tmp_path):
    gen = torch.Generator().manual_seed(0)
    centres = torch.randn(32, 32, generator=gen)
    gallery = centres.repeat(32, 1) + 0.3 * torch.randn(1024, 32, generator=gen)
    queries = gallery[::37] + 0.05 * torch.randn(28, 32, generator=gen)
    exact = GalleryIndex(backend='torch').add(gallery).search(queries, topk=10)
    flat = GalleryIndex(backend='faiss').add(gallery).search(queries, topk=10)
    assert torch.equal(flat[1], exact[1])
    torch.testing.assert_close(flat[0], exact[0], rtol=1e-4, atol=1e-5)

    ivfpq = GalleryIndex(index_type='ivfpq', nlist=8, nprobe=8).add(gallery)
    approx = ivfpq.search(queries, topk=10)
    assert np.mean([exact[1][i, 0].item() in approx[1][i].tolist() for i in range(len(queries))]) >= 0.9
    ivfpq.save(tmp_path / 'ivfpq')
    reloaded = GalleryIndex.load(tmp_path / 'ivfpq').search(queries, topk=10)  # the trained index, not retrained
    assert torch.equal(reloaded[1], approx[1])


def test_index_rejects_bad_input():
    index = GalleryIndex(backend='torch')
    with pytest.raises(ValueError, match='empty'):
        index.search(torch.randn(1, 8))
    index.add(torch.randn(4, 8), pids=[1, 2, 3, 4])
    with pytest.raises(ValueError, match='dimension'):
        index.search(torch.randn(1, 9))
    with pytest.raises(ValueError, match='every added batch'):
        index.add(torch.randn(2, 8))
    assert index.search(torch.randn(8), topk=50)[1].shape == (1, 4)  # topk clamped to the gallery size


# ------------------------------------------------------------------------------------------ tools/search.py
def test_search_tool_image_query_reuses_its_index(image_model, market, tmp_path):
    gallery = tmp_path / 'gallery' / 'cam1'  # searched recursively
    gallery.mkdir(parents=True)
    for path in market['gallery'][:12]:
        shutil.copy(path, gallery)
    query = str(gallery / osp.basename(market['gallery'][3]))
    argv = [IMAGE_CFG, image_model['ckpt'], '--gallery', str(tmp_path / 'gallery'), '--query', query,
            '--topk', '4', '--index-dir', str(tmp_path / 'index'), '--out', str(tmp_path / 'out'),
            '--cfg-options', *cfg_option_args(TINY)]
    search = load_tool('search')
    first = search.main(argv)
    assert not first['index_reused']
    assert [r['rank'] for r in first['results']] == [1, 2, 3, 4]
    assert first['results'][0]['path'] == query and first['results'][0]['score'] == pytest.approx(1.0, abs=1e-5)
    with open(first['json']) as f:
        written = json.load(f)
    assert written['results'] == first['results'] and written['query'] == dict(image=query)
    assert cv2.imread(first['picture']).shape[:2] == grid_shape(1, 4, (128, 64), with_titles=True)

    again = search.main(argv)
    assert again['index_reused'] and again['results'] == first['results']
    os.remove(gallery / osp.basename(market['gallery'][0]))  # the gallery changed: the index is rebuilt
    assert not search.main(argv)['index_reused']


def test_search_tool_caption_query(caption_ckpt, demo, image_model, tmp_path):
    images = sorted((demo / 'cuhk-pedes' / 'imgs').rglob('*.*'))[:6]
    gallery = tmp_path / 'gallery'
    gallery.mkdir()
    for i, path in enumerate(images):
        shutil.copy(path, gallery / f'{i}{path.suffix}')
    search = load_tool('search')
    out = search.main([CAPTION_CFG, caption_ckpt, '--gallery', str(gallery), '--query', 'a man in a red jacket',
                       '--topk', '5', '--out', str(tmp_path / 'out')])
    assert len(out['results']) == 5 and len({r['path'] for r in out['results']}) == 5
    # the caption gets a query cell three image cells wide
    shape = grid_shape(1, 5, (128, 64), query_width=3 * 64, with_titles=True)
    assert cv2.imread(out['picture']).shape[:2] == shape
    with pytest.raises(ValueError, match='cannot embed captions'):
        search.main([IMAGE_CFG, image_model['ckpt'], '--gallery', str(gallery), '--query', 'a red jacket',
                     '--out', str(tmp_path / 'out2'), '--cfg-options', *cfg_option_args(TINY)])
