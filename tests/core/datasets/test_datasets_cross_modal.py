"""SYSU-MM01 and RegDB on the demo data: counts and roles recomputed from the folders and split files."""
import glob
import os.path as osp

import numpy as np
import pytest
from mmpretrain.registry import DATASETS

import plugins  # noqa: F401


def build(cfg):
    return DATASETS.build(dict(cfg, verbose=False))


def sysu_ids(root, name):
    with open(osp.join(root, 'exp', name)) as f:
        return [int(t) for t in f.read().strip().split(',')]


def sysu_files(root, ids):
    """{path: (pid, camid)} of every image of ``ids`` in cam1..cam6, read with glob."""
    out = {}
    for pid in ids:
        for path in glob.glob(osp.join(root, 'cam[1-6]', f'{pid:04d}', '*.jpg')):
            out[path] = (pid, int(path.split(osp.sep)[-3][3:]) - 1)
    return out


def test_sysu_train_uses_train_and_val_ids(demo_root):
    root = osp.join(demo_root, 'sysu-mm01')
    ids = sorted(sysu_ids(root, 'train_id.txt') + sysu_ids(root, 'val_id.txt'))
    files = sysu_files(root, ids)
    ds = build(dict(type='SYSUMM01', data_root=root, split='train'))
    assert len(ds) == len(files)
    assert ds.metainfo['num_classes'] == len(ids)
    for k in range(len(ds)):
        info = ds.get_data_info(k)
        pid, camid = files[info['img_path']]
        assert info['gt_label'] == ids.index(pid) and info['camid'] == camid
        assert info['modality'] == ('infrared' if camid in (2, 5) else 'visible')
        assert info['split_role'] == 'train'


def test_sysu_test_queries_are_infrared_gallery_visible(demo_root):
    root = osp.join(demo_root, 'sysu-mm01')
    ids = sysu_ids(root, 'test_id.txt')
    files = sysu_files(root, ids)
    ds = build(dict(type='SYSUMM01', data_root=root, split='test'))
    infos = [ds.get_data_info(k) for k in range(len(ds))]
    assert len(infos) == len(files)
    for info in infos:
        pid, camid = files[info['img_path']]
        assert info['gt_label'] == pid  # original ids
        infrared = camid in (2, 5)
        assert (info['modality'], info['split_role']) == (('infrared', 'query') if infrared else ('visible', 'gallery'))
    assert not set(sysu_ids(root, 'train_id.txt')) & {i['gt_label'] for i in infos}
    # every visible camera's images are candidates (the metric draws the single-shot gallery)
    assert {i['camid'] for i in infos if i['split_role'] == 'gallery'} <= {0, 1, 3, 4}


def read_regdb_list(root, name):
    with open(osp.join(root, 'idx', name)) as f:
        return [(osp.join(root, line.split()[0]), int(line.split()[1])) for line in f if line.strip()]


@pytest.mark.parametrize('trial', [1, 7])
def test_regdb_trials(demo_root, trial):
    root = osp.join(demo_root, 'regdb')
    train = build(dict(type='RegDB', data_root=root, split='train', trial=trial))
    test = build(dict(type='RegDB', data_root=root, split='test', trial=trial))
    for ds, split in ((train, 'train'), (test, 'test')):
        vis = read_regdb_list(root, f'{split}_visible_{trial}.txt')
        the = read_regdb_list(root, f'{split}_thermal_{trial}.txt')
        infos = [ds.get_data_info(k) for k in range(len(ds))]
        assert [i['img_path'] for i in infos] == [p for p, _ in vis + the]
        labels = sorted({lab for _, lab in vis})
        expect_labels = [labels.index(lab) if split == 'train' else lab for _, lab in vis + the]
        assert [i['gt_label'] for i in infos] == expect_labels
        assert [i['modality'] for i in infos] == ['visible'] * len(vis) + ['infrared'] * len(the)
        assert [i['camid'] for i in infos] == [0] * len(vis) + [1] * len(the)
        roles = ['train'] * len(infos) if split == 'train' else ['query'] * len(vis) + ['gallery'] * len(the)
        assert [i['split_role'] for i in infos] == roles
        assert all(p.endswith('.bmp') and '/Visible/' in p for p, _ in vis)
    assert train.metainfo['num_classes'] == len({lab for _, lab in read_regdb_list(root, f'train_visible_{trial}.txt')})
    # train and test folders (= real person ids) are disjoint within a trial
    folder_id = lambda ds: {ds.get_data_info(k)['img_path'].split(osp.sep)[-2] for k in range(len(ds))}  # noqa
    assert not folder_id(train) & folder_id(test)


def test_regdb_trials_differ(demo_root):
    root = osp.join(demo_root, 'regdb')
    first = {p for p, _ in read_regdb_list(root, 'train_visible_1.txt')}
    assert first != {p for p, _ in read_regdb_list(root, 'train_visible_2.txt')}


def test_regdb_bad_trial(demo_root):
    with pytest.raises(ValueError, match='trial'):
        build(dict(type='RegDB', data_root=osp.join(demo_root, 'regdb'), trial=11))


def test_infrared_demo_images_are_three_identical_channels(demo_root):
    import cv2
    ir = sorted(glob.glob(osp.join(demo_root, 'sysu-mm01', 'cam3', '*', '*.jpg')))[:5]
    th = sorted(glob.glob(osp.join(demo_root, 'regdb', 'Thermal', '*', '*.bmp')))[:5]
    for path in ir + th:
        img = cv2.imread(path, cv2.IMREAD_UNCHANGED).astype(int)
        assert img.shape == (128, 64, 3)
        tol = 0 if path.endswith('.bmp') else 3  # JPEG chroma rounding
        assert np.abs(img - img[..., :1]).max() <= tol
    vis = cv2.imread(sorted(glob.glob(osp.join(demo_root, 'regdb', 'Visible', '*', '*.bmp')))[0]).astype(int)
    assert np.abs(vis - vis[..., :1]).max() > 20  # visible images are in colour
