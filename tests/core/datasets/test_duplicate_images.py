"""Byte-identical images and file names the layout matches only in part are named at data set build (issue 33)."""
import shutil

import pytest
from dataset_test_utils import write_image

from plugins.core.datasets import CustomReIDDataset, Market1501
from plugins.core.datasets.duplicates import find_identical_files


def market_root(tmp_path):
    """A tiny Market-1501 layout: 3 train ids x 2 images, 2 test ids (query + 2 gallery each), all distinct."""
    root = tmp_path / 'market'
    value = iter(range(10, 250, 7))
    for pid in (1, 2, 3):
        for k, cam in enumerate((1, 2)):
            write_image(root / 'bounding_box_train' / f'{pid:04d}_c{cam}s1_00{k}000_01.jpg', value=next(value))
    for pid in (7, 8):
        write_image(root / 'query' / f'{pid:04d}_c1s1_000100_01.jpg', value=next(value))
        for k, cam in enumerate((2, 3)):
            write_image(root / 'bounding_box_test' / f'{pid:04d}_c{cam}s1_00{k}200_01.jpg', value=next(value))
    return root


def test_clean_layout_builds(tmp_path):
    root = market_root(tmp_path)
    assert len(Market1501(str(root), split='train')) == 6
    assert len(Market1501(str(root), split='test')) == 6


def test_copy_suffix_and_identical_copy_refused(tmp_path):
    root = market_root(tmp_path)
    train = root / 'bounding_box_train'
    src = train / '0002_c1s1_000000_01.jpg'
    shutil.copy(src, train / '0002_c1s1_000000_01 (copy).jpg')  # a file manager's copy: partial name match
    shutil.copy(src, train / '0003_c2s1_000451_01.jpg')  # the same bytes under a new Market-style name
    with pytest.raises(ValueError) as err:
        Market1501(str(root), split='train')
    text = str(err.value)
    assert '0002_c1s1_000000_01 (copy).jpg' in text and 'matches only in part' in text
    assert '0003_c2s1_000451_01.jpg' in text and 'byte-identical' in text and 'allow_duplicates=True' in text
    kept = Market1501(str(root), split='train', allow_duplicates=True)  # kept, with a warning
    assert len(kept) == 8
    assert [len(g) for g in kept.identical_images] == [3]


def test_query_image_copied_into_gallery_named(tmp_path):
    root = market_root(tmp_path)
    shutil.copy(root / 'query' / '0007_c1s1_000100_01.jpg', root / 'bounding_box_test' / '0007_c4s1_000999_01.jpg')
    with pytest.raises(ValueError, match=r'query image .*0007_c1s1_000100_01.jpg.* also in the gallery'):
        Market1501(str(root), split='test')


def test_find_identical_files_hashes_only_equal_sizes(tmp_path, monkeypatch):
    files = {}
    for name, data in (('a', b'x' * 100), ('b', b'x' * 100), ('c', b'y' * 100), ('d', b'z' * 50), ('e', b'y' * 99)):
        files[name] = str(tmp_path / f'{name}.jpg')
        with open(files[name], 'wb') as f:
            f.write(data)
    hashed = []
    import plugins.core.datasets.duplicates as dup
    real = dup.file_digest
    monkeypatch.setattr(dup, 'file_digest', lambda p: hashed.append(p) or real(p))
    assert find_identical_files(list(files.values()) + [files['a']]) == [[files['a'], files['b']]]
    assert sorted(hashed) == [files['a'], files['b'], files['c']]  # d and e have sizes of their own


def test_custom_folder_duplicate_refused(tmp_path):
    for part, pids in (('train', (1, 2)), ('query', (5,)), ('gallery', (5, 6))):
        for pid in pids:
            for k in range(2):
                write_image(tmp_path / part / str(pid) / f'img{k}.jpg', value=pid * 20 + k * 3 + len(part))
    shutil.copy(tmp_path / 'train' / '1' / 'img0.jpg', tmp_path / 'train' / '2' / 'x.jpg')
    with pytest.raises(ValueError, match='byte-identical'):
        CustomReIDDataset(str(tmp_path), split='train')
