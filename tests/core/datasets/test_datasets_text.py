"""CUHK-PEDES, ICFG-PEDES and RSTPReid on the demo data: samples recomputed from the JSON files."""
import json
import os
import os.path as osp
import shutil
from collections import defaultdict

import pytest
from mmpretrain.registry import DATASETS

import plugins  # noqa: F401

SETS = [('CUHKPEDES', 'cuhk-pedes', 'reid_raw.json', 'file_path'),
        ('ICFGPEDES', 'icfg-pedes', 'ICFG-PEDES.json', 'file_path'),
        ('RSTPReid', 'rstpreid', 'data_captions.json', 'img_path')]


def build(cfg):
    return DATASETS.build(dict(cfg, verbose=False))


def records(root, ann, split):
    with open(osp.join(root, ann)) as f:
        return [r for r in json.load(f) if r['split'] == split]


@pytest.mark.parametrize('cls,folder,ann,path_key', SETS)
def test_train_samples_pair_each_caption_with_its_image(demo_root, cls, folder, ann, path_key):
    root = osp.join(demo_root, folder)
    recs = records(root, ann, 'train')
    ds = build(dict(type=cls, data_root=root, split='train'))
    infos = [ds.get_data_info(k) for k in range(len(ds))]
    expected = [(osp.join(root, 'imgs', r[path_key]), c) for r in recs for c in r['captions']]
    assert [(i['img_path'], i['caption']) for i in infos] == expected
    ids = sorted({r['id'] for r in recs})
    assert ds.metainfo['num_classes'] == len(ids)
    pid_of = {osp.join(root, 'imgs', r[path_key]): r['id'] for r in recs}
    captions_of = {osp.join(root, 'imgs', r[path_key]): r['captions'] for r in recs}
    images_of = defaultdict(set)
    for path, pid in pid_of.items():
        images_of[pid].add(path)
    for info in infos:
        pid = pid_of[info['img_path']]
        assert info['gt_label'] == ids.index(pid)
        assert (info['modality'], info['split_role'], info['camid']) == ('image', 'train', -1)
        # weak positive: a caption of another image of the same person
        others = images_of[pid] - {info['img_path']}
        assert others, 'the demo gives every id several images'
        assert any(info['weak_caption'] in captions_of[p] for p in others)


@pytest.mark.parametrize('cls,folder,ann,path_key', SETS)
def test_test_split_yields_images_then_captions(demo_root, cls, folder, ann, path_key):
    root = osp.join(demo_root, folder)
    recs = records(root, ann, 'test')
    ds = build(dict(type=cls, data_root=root, split='test'))
    infos = [ds.get_data_info(k) for k in range(len(ds))]
    images = [i for i in infos if i['modality'] == 'image']
    texts = [i for i in infos if i['modality'] == 'text']
    assert len(images) + len(texts) == len(infos)
    assert [(i['img_path'], i['gt_label']) for i in images] == \
        [(osp.join(root, 'imgs', r[path_key]), r['id']) for r in recs]
    assert [(i['caption'], i['gt_label']) for i in texts] == [(c, r['id']) for r in recs for c in r['captions']]
    assert all(i['split_role'] == 'gallery' for i in images)
    assert all(i['split_role'] == 'query' and 'img_path' not in i for i in texts)
    assert 'num_classes' not in ds.metainfo


def test_cuhk_pedes_demo_format(demo_root):
    """At least two captions per image, 1-based ids, the keys of the real reid_raw.json."""
    with open(osp.join(demo_root, 'cuhk-pedes', 'reid_raw.json')) as f:
        recs = json.load(f)
    assert {'split', 'captions', 'file_path', 'id', 'processed_tokens'} <= set(recs[0])
    assert min(r['id'] for r in recs) == 1
    assert all(len(r['captions']) >= 2 and len(set(r['captions'])) == len(r['captions']) for r in recs)
    assert {r['split'] for r in recs} == {'train', 'val', 'test'}


@pytest.mark.parametrize('cls,folder', [('CUHKPEDES', 'cuhk-pedes'), ('RSTPReid', 'rstpreid')])
def test_val_split(demo_root, cls, folder):
    ds = build(dict(type=cls, data_root=osp.join(demo_root, folder), split='val'))
    assert {ds.get_data_info(k)['split_role'] for k in range(len(ds))} == {'query', 'gallery'}


def test_icfg_accepts_underscore_file_name(demo_root, tmp_path):
    root = tmp_path / 'icfg'
    os.makedirs(root)
    os.symlink(osp.join(demo_root, 'icfg-pedes', 'imgs'), root / 'imgs')
    shutil.copy(osp.join(demo_root, 'icfg-pedes', 'ICFG-PEDES.json'), root / 'ICFG_PEDES.json')
    alt = build(dict(type='ICFGPEDES', data_root=str(root), split='train'))
    ref = build(dict(type='ICFGPEDES', data_root=osp.join(demo_root, 'icfg-pedes'), split='train'))
    assert [alt.get_data_info(k)['caption'] for k in range(len(alt))] == \
        [ref.get_data_info(k)['caption'] for k in range(len(ref))]


def test_text_pipeline_applies_to_captions_only(demo_root):
    seen = []
    ds = build(dict(type='RSTPReid', data_root=osp.join(demo_root, 'rstpreid'), split='test',
                    pipeline=[lambda r: dict(r, went='image')], text_pipeline=[lambda r: dict(r, went='text')]))
    for k in range(len(ds)):
        out = ds[k]
        seen.append(out['went'] == ('text' if out['modality'] == 'text' else 'image'))
    assert all(seen)
