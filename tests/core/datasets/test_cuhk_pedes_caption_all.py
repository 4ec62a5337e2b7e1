"""CUHK-PEDES from ``caption_all.json`` as the authors distribute it (no ``split`` key: the official split by id).

The hand-written file has the structure of the distributed one: a JSON list of ``{"id", "file_path",
"captions"}`` records (ids 1-based, sorted, file paths under ``imgs/`` in the archive's sub-folders), here with
persons on both sides of every split boundary (11003 | 11004, 12003 | 12004) and the last id 13003.
"""
import json
import os.path as osp

import pytest
from dataset_test_utils import write_image
from mmpretrain.registry import DATASETS

import plugins  # noqa: F401

#: (id, file_path, captions) of the hand-written file, and the split the paper's id ranges give each record
RECORDS = [
    (1, 'CUHK01/0001001.png', ['A man in a black jacket.', 'The man wears black.']),
    (1, 'CUHK01/0001002.png', ['He has a black jacket and jeans.', 'A man walking in black.']),
    (11003, 'train_query/p11600_s14885.jpg', ['A woman is wearing a gray shirt.', 'She wears dark grey.']),
    (11003, 'train_query/p11600_s14886.jpg', ['A woman in grey.', 'Grey shirt, brown pants.']),
    (11004, 'Market/0002_c1s1_000451_03.jpg', ['A man with a red bag.', 'Red bag, white shirt.']),
    (12003, 'cam_a/001_45.bmp', ['A girl in a pink dress.', 'Pink dress and sandals.']),
    (12004, 'test_query/p2703_s3526.jpg', ['A man in a blue coat.', 'Blue coat, black shoes.', 'A third one.']),
    (12004, 'CUHK03/1_1_1.png', ['A man in blue.', 'He wears a blue coat.']),
    (13003, 'cam_b/632_0.bmp', ['An old man with a cane.', 'Cane, brown coat.']),
]
SPLIT_BY_HAND = ['train', 'train', 'train', 'train', 'val', 'val', 'test', 'test', 'test']


def build(cfg):
    return DATASETS.build(dict(cfg, verbose=False))


def write_set(root, name='caption_all.json', with_split=False, records=RECORDS):
    for _, path, _ in records:
        write_image(osp.join(root, 'imgs', path))
    items = []
    for (pid, path, captions), split in zip(records, SPLIT_BY_HAND):
        item = dict(id=pid, file_path=path, captions=captions)
        if with_split:  # reid_raw.json: the same records with the split key
            item = dict(split=split, captions=captions, file_path=path, id=pid)
        items.append(item)
    with open(osp.join(root, name), 'w') as f:
        json.dump(items, f)
    return str(root)


def infos(ds):
    return [ds.get_data_info(i) for i in range(len(ds))]


@pytest.mark.parametrize('split', ['train', 'val', 'test'])
def test_caption_all_split_by_official_id_ranges(tmp_path, split):
    root = write_set(tmp_path)
    ds = build(dict(type='CUHKPEDES', data_root=root, split=split))
    mine = [r for r, s in zip(RECORDS, SPLIT_BY_HAND) if s == split]
    got = infos(ds)
    if split == 'train':  # one sample per (image, caption), ids relabelled in sorted order
        assert [(i['img_path'], i['caption']) for i in got] == [
            (osp.join(root, 'imgs', path), c) for _, path, captions in mine for c in captions]
        assert sorted({i['gt_label'] for i in got}) == [0, 1] and ds.metainfo['num_classes'] == 2
    else:  # images, then captions; original ids
        images = [i for i in got if i['modality'] == 'image']
        texts = [i for i in got if i['modality'] == 'text']
        assert [(i['img_path'], i['gt_label']) for i in images] == [
            (osp.join(root, 'imgs', path), pid) for pid, path, _ in mine]
        assert [(i['caption'], i['gt_label']) for i in texts] == [
            (c, pid) for pid, _, captions in mine for c in captions]


def test_caption_all_gives_the_samples_of_reid_raw(tmp_path):
    """The same records with the split key (reid_raw.json) give identical samples in every split."""
    all_root = write_set(tmp_path / 'all')
    raw_root = write_set(tmp_path / 'raw', name='reid_raw.json', with_split=True)
    for split in ('train', 'val', 'test'):
        a = infos(build(dict(type='CUHKPEDES', data_root=all_root, split=split)))
        b = infos(build(dict(type='CUHKPEDES', data_root=raw_root, split=split)))
        strip = lambda i: {k: v.replace(raw_root, all_root) if isinstance(v, str) else v  # noqa: E731
                           for k, v in i.items()}
        assert a == [strip(i) for i in b], split


def test_reid_raw_wins_when_both_files_are_there(tmp_path):
    root = write_set(tmp_path)
    write_set(tmp_path, name='reid_raw.json', with_split=True, records=RECORDS[:2])
    ds = build(dict(type='CUHKPEDES', data_root=root, split='train'))
    assert {i['img_path'] for i in infos(ds)} == {osp.join(root, 'imgs', p) for _, p, _ in RECORDS[:2]}


def test_no_annotation_file_names_both(tmp_path):
    (tmp_path / 'imgs').mkdir()
    with pytest.raises(FileNotFoundError) as error:
        build(dict(type='CUHKPEDES', data_root=str(tmp_path), split='train'))
    assert 'reid_raw.json or caption_all.json' in str(error.value) and 'caption_all.json' in str(error.value)


def test_id_outside_the_official_ranges_is_an_error(tmp_path):
    root = write_set(tmp_path, records=RECORDS[:1] + [(13004, 'cam_b/999_0.bmp', ['x y z'])])
    with pytest.raises(ValueError, match=r'caption_all.json record 1: id 13004 is outside the official ids 1-13003'):
        build(dict(type='CUHKPEDES', data_root=root, split='train'))


def test_caption_all_needs_no_split_key_but_its_own_keys(tmp_path):
    root = write_set(tmp_path)
    with open(osp.join(root, 'caption_all.json')) as f:
        items = json.load(f)
    del items[3]['captions']
    with open(osp.join(root, 'caption_all.json'), 'w') as f:
        json.dump(items, f)
    with pytest.raises(KeyError, match=r"record 3 has no key 'captions' \(required keys: \['id', 'captions', "
                                       r"'file_path'\]\)"):
        build(dict(type='CUHKPEDES', data_root=root, split='test'))
