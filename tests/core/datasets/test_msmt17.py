"""MSMT17 from its list files, V1 and V2 archives, on hand-written files of the real layout; torchreid's parser
(``torchreid/reid/data/datasets/image/msmt17.py``, through ``TorchreidDataset``) is the reference."""
import os
import os.path as osp

import pytest
from dataset_test_utils import write_image
from mmpretrain.registry import DATASETS

import plugins  # noqa: F401

#: list file -> lines, as in the archive ("<pid folder>/<pid>_<n>_<camera>_<date><time>_<frame>_<k>.jpg <pid>")
LISTS = {'list_train.txt': ['0000/0000_000_01_0303morning_0015_0.jpg 0', '0000/0000_001_07_0303noon_0816_1.jpg 0',
                            '0004/0004_000_15_0304afternoon_0101_0.jpg 4'],
         'list_val.txt': ['0004/0004_002_03_0304morning_0202_0.jpg 4'],
         'list_query.txt': ['0000/0000_000_01_0303morning_0008_0.jpg 0', '0002/0002_000_10_0306noon_0011_0.jpg 2'],
         'list_gallery.txt': ['0000/0000_001_05_0303noon_0009_0.jpg 0', '0002/0002_000_11_0306noon_0012_0.jpg 2',
                              '0002/0002_001_10_0306noon_0013_1.jpg 2']}
FOLDERS = {'MSMT17_V1': ('train', 'test'), 'MSMT17_V2': ('mask_train_v2', 'mask_test_v2')}


def write_msmt17(root, version='MSMT17_V1'):
    archive = osp.join(root, 'msmt17', version)
    train_dir, test_dir = FOLDERS[version]
    for name, lines in LISTS.items():
        for line in lines:
            write_image(osp.join(archive, train_dir if name in ('list_train.txt', 'list_val.txt') else test_dir,
                                 line.split()[0]))
        with open(osp.join(archive, name), 'w') as f:
            f.write(''.join(line + '\n' for line in lines))
    return archive


def build(cfg):
    return DATASETS.build(dict(cfg, verbose=False))


def rows(ds, root):
    return [(osp.relpath(i['img_path'], root), i['gt_label'], i['camid'], i['split_role'])
            for i in (ds.get_data_info(k) for k in range(len(ds)))]


@pytest.mark.parametrize('version', ['MSMT17_V1', 'MSMT17_V2'])
def test_lists_are_read_as_torchreid_reads_them(tmp_path, version):
    archive = write_msmt17(tmp_path, version)
    train_dir, test_dir = FOLDERS[version]
    data_root = osp.dirname(archive)
    train = build(dict(type='MSMT17', data_root=data_root, split='train'))
    # by hand: pid 0 -> label 0, pid 4 -> label 1 (list_val.txt is not trained on); camera = 3rd field - 1
    assert rows(train, archive) == [(f'{train_dir}/0000/0000_000_01_0303morning_0015_0.jpg', 0, 0, 'train'),
                                    (f'{train_dir}/0000/0000_001_07_0303noon_0816_1.jpg', 0, 6, 'train'),
                                    (f'{train_dir}/0004/0004_000_15_0304afternoon_0101_0.jpg', 1, 14, 'train')]
    assert train.metainfo['num_classes'] == 2 and train.metainfo['dataset_name'] == 'msmt17'
    test = build(dict(type='MSMT17', data_root=data_root, split='test'))
    assert rows(test, archive) == [(f'{test_dir}/0000/0000_000_01_0303morning_0008_0.jpg', 0, 0, 'query'),
                                   (f'{test_dir}/0002/0002_000_10_0306noon_0011_0.jpg', 2, 9, 'query'),
                                   (f'{test_dir}/0000/0000_001_05_0303noon_0009_0.jpg', 0, 4, 'gallery'),
                                   (f'{test_dir}/0002/0002_000_11_0306noon_0012_0.jpg', 2, 10, 'gallery'),
                                   (f'{test_dir}/0002/0002_001_10_0306noon_0013_1.jpg', 2, 9, 'gallery')]
    # torchreid's own parser of the same folder gives the same samples (test ids are not relabelled by either)
    bridged = build(dict(type='TorchreidDataset', name='msmt17', root=str(tmp_path), split='test'))
    assert rows(bridged, archive) == rows(test, archive)
    # the archive folder itself is accepted as data_root
    assert rows(build(dict(type='MSMT17', data_root=archive, split='test')), archive) == rows(test, archive)


def test_v1_wins_like_torchreid_unless_a_version_is_named(tmp_path):
    write_msmt17(tmp_path, 'MSMT17_V1')
    write_msmt17(tmp_path, 'MSMT17_V2')
    root = str(tmp_path / 'msmt17')
    auto = build(dict(type='MSMT17', data_root=root, split='test'))
    assert all('/MSMT17_V1/test/' in auto.get_data_info(k)['img_path'] for k in range(len(auto)))
    v2 = build(dict(type='MSMT17', data_root=root, split='test', version='MSMT17_V2'))
    assert all('/MSMT17_V2/mask_test_v2/' in v2.get_data_info(k)['img_path'] for k in range(len(v2)))


def test_errors_name_the_layout_and_the_files(tmp_path):
    with pytest.raises(FileNotFoundError, match=r'MSMT17 archive folder not found: .*MSMT17_V1 or MSMT17_V2'):
        build(dict(type='MSMT17', data_root=str(tmp_path), split='train'))
    archive = write_msmt17(tmp_path)
    os.remove(osp.join(archive, 'test', '0002', '0002_000_11_0306noon_0012_0.jpg'))
    with pytest.raises(FileNotFoundError, match=r'1 of the 3 images listed in .*list_gallery.txt do not exist'):
        build(dict(type='MSMT17', data_root=archive, split='test'))
    with open(osp.join(archive, 'list_train.txt'), 'a') as f:
        f.write('0005/0005_000_16_0304morning_0001_0.jpg 5\n')
    with pytest.raises(ValueError, match=r'list_train.txt:4: camera 16 outside 1..15'):
        build(dict(type='MSMT17', data_root=archive, split='train'))
    with pytest.raises(ValueError, match='version must be one of'):
        build(dict(type='MSMT17', data_root=archive, version='V3'))
