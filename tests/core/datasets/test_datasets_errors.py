"""Bad input: every error names the file/folder (and record/key) and, for layouts, shows the expected tree."""
import json
import os
import os.path as osp

import pytest
from dataset_test_utils import write_image
from mmpretrain.registry import DATASETS

import plugins  # noqa: F401


def build(cfg):
    return DATASETS.build(dict(cfg, verbose=False))


def make_market(root, train=('0001_c1s1_000001_01.jpg', '0002_c2s1_000002_01.jpg'), query=(), gallery=()):
    for folder, names in (('bounding_box_train', train), ('query', query), ('bounding_box_test', gallery)):
        os.makedirs(osp.join(root, folder), exist_ok=True)
        for name in names:
            write_image(osp.join(root, folder, name))
    return str(root)


def test_wrong_root_names_it_and_shows_layout(tmp_path):
    missing = str(tmp_path / 'no_such_market')
    with pytest.raises(FileNotFoundError) as err:
        build(dict(type='Market1501', data_root=missing))
    assert missing in str(err.value) and 'bounding_box_train/' in str(err.value)


def test_missing_folder_is_named(tmp_path):
    root = make_market(tmp_path / 'm')
    os.rmdir(osp.join(root, 'query'))
    with pytest.raises(FileNotFoundError, match=r'm/query'):
        build(dict(type='Market1501', data_root=root, split='test'))


def test_split_with_zero_images(tmp_path):
    root = make_market(tmp_path / 'm')  # query/ and bounding_box_test/ exist but are empty
    with pytest.raises(ValueError, match="split 'test' yields zero samples"):
        build(dict(type='Market1501', data_root=root, split='test'))


def test_split_with_only_junk(tmp_path):
    root = make_market(tmp_path / 'm', query=('-1_c1s1_000001_01.jpg',), gallery=('-1_c2s1_000001_01.jpg',))
    with pytest.raises(ValueError, match='zero samples'):
        build(dict(type='Market1501', data_root=root, split='test'))


def test_bad_file_name(tmp_path):
    root = make_market(tmp_path / 'm', train=('person_one.jpg',))
    with pytest.raises(ValueError, match='person_one.jpg'):
        build(dict(type='Market1501', data_root=root))


def test_unknown_split(tmp_path):
    with pytest.raises(ValueError, match='split must be one of'):
        build(dict(type='Market1501', data_root=make_market(tmp_path / 'm'), split='val'))


def test_corrupt_image_check(tmp_path):
    root = make_market(tmp_path / 'm')
    bad = osp.join(root, 'bounding_box_train', '0003_c1s1_000003_01.jpg')
    with open(bad, 'wb') as f:
        f.write(b'not a jpeg')
    with pytest.raises(OSError, match='0003_c1s1_000003_01.jpg'):  # its header is read by default
        build(dict(type='Market1501', data_root=root))
    assert len(build(dict(type='Market1501', data_root=root, check_image_headers=False))) == 3  # nothing read
    with pytest.raises(OSError, match='0003_c1s1_000003_01.jpg'):
        build(dict(type='Market1501', data_root=root, check_image_headers=False, check_images=True))
    ds = build(dict(type='Market1501', data_root=root, check_images=True, skip_bad_images=True))
    assert len(ds) == 2 and ds.metainfo['num_classes'] == 2


def make_sysu(root, ids=(1, 2), split_ids=None):
    for pid in ids:
        for cam in (1, 3):
            write_image(osp.join(root, f'cam{cam}', f'{pid:04d}', '0001.jpg'))
    for cam in range(1, 7):
        os.makedirs(osp.join(root, f'cam{cam}'), exist_ok=True)
    os.makedirs(osp.join(root, 'exp'), exist_ok=True)
    for name in ('train', 'val', 'test'):
        with open(osp.join(root, 'exp', f'{name}_id.txt'), 'w') as f:
            f.write(','.join(map(str, (split_ids or {}).get(name, ids[:1]))))
    return str(root)


def test_sysu_tiny_tree_parses(tmp_path):
    root = make_sysu(tmp_path / 's', split_ids=dict(train=[1], val=[2], test=[2]))
    ds = build(dict(type='SYSUMM01', data_root=root))
    assert len(ds) == 4 and ds.metainfo['num_classes'] == 2


def test_sysu_missing_split_file(tmp_path):
    root = make_sysu(tmp_path / 's')
    os.remove(osp.join(root, 'exp', 'test_id.txt'))
    with pytest.raises(FileNotFoundError, match=r'exp/test_id.txt') as err:
        build(dict(type='SYSUMM01', data_root=root, split='test'))
    assert 'comma-separated' in str(err.value)  # the expected layout is shown


def test_sysu_empty_identity_folder(tmp_path):
    root = make_sysu(tmp_path / 's', ids=(1,), split_ids=dict(train=[1], val=[5], test=[1]))
    os.makedirs(osp.join(root, 'cam1', '0005'))  # listed id whose only folder is empty
    with pytest.raises(ValueError, match=r'id 5 .*no images'):
        build(dict(type='SYSUMM01', data_root=root))


def test_sysu_bad_split_file(tmp_path):
    root = make_sysu(tmp_path / 's')
    with open(osp.join(root, 'exp', 'train_id.txt'), 'w') as f:
        f.write('1, two, 3')
    with pytest.raises(ValueError, match='train_id.txt'):
        build(dict(type='SYSUMM01', data_root=root))


def make_regdb(root):
    lines = []
    for pid in (1, 2):
        for folder in ('Visible', 'Thermal'):
            write_image(osp.join(root, folder, str(pid), f'x_{folder[0].lower()}_{pid}.bmp'))
    os.makedirs(osp.join(root, 'idx'))
    for split in ('train', 'test'):
        for modality, folder in (('visible', 'Visible'), ('thermal', 'Thermal')):
            lines = [f'{folder}/{pid}/x_{folder[0].lower()}_{pid}.bmp {pid - 1}' for pid in (1, 2)]
            with open(osp.join(root, 'idx', f'{split}_{modality}_1.txt'), 'w') as f:
                f.write('\n'.join(lines) + '\n')
    return str(root)


def test_regdb_missing_split_file(tmp_path):
    root = make_regdb(tmp_path / 'r')
    assert len(build(dict(type='RegDB', data_root=root, trial=1))) == 4
    with pytest.raises(FileNotFoundError, match=r'idx/train_visible_2.txt'):
        build(dict(type='RegDB', data_root=root, trial=2))


def test_regdb_listed_image_missing(tmp_path):
    root = make_regdb(tmp_path / 'r')
    os.remove(osp.join(root, 'Thermal', '2', 'x_t_2.bmp'))
    with pytest.raises(FileNotFoundError, match=r'x_t_2.bmp.*train_thermal_1.txt:2'):
        build(dict(type='RegDB', data_root=root))


def test_regdb_malformed_line(tmp_path):
    root = make_regdb(tmp_path / 'r')
    with open(osp.join(root, 'idx', 'train_visible_1.txt'), 'a') as f:
        f.write('Visible/1/x_v_1.bmp\n')
    with pytest.raises(ValueError, match=r'train_visible_1.txt:3'):
        build(dict(type='RegDB', data_root=root))


def make_text(root, records, name='reid_raw.json'):
    for r in records:
        if 'file_path' in r:
            write_image(osp.join(root, 'imgs', r['file_path']))
    os.makedirs(osp.join(root, 'imgs'), exist_ok=True)
    with open(osp.join(root, name), 'w') as f:
        json.dump(records, f)
    return str(root)


def record(pid, path, split='train', captions=('a man in red.', 'a man in a red coat.')):
    return dict(id=pid, file_path=path, split=split, captions=list(captions))


@pytest.mark.parametrize('key', ['captions', 'file_path', 'id', 'split'])
def test_json_record_without_key(tmp_path, key):
    recs = [record(1, 'a/1.jpg'), record(2, 'a/2.jpg')]
    del recs[1][key]
    root = make_text(tmp_path / 't', recs)
    with pytest.raises(KeyError) as err:
        build(dict(type='CUHKPEDES', data_root=root))
    assert 'record 1' in str(err.value) and repr(key) in str(err.value) and 'reid_raw.json' in str(err.value)


def test_rstpreid_requires_img_path_key(tmp_path):
    root = make_text(tmp_path / 't', [record(0, 'a.jpg')], name='data_captions.json')
    with pytest.raises(KeyError, match="record 0 has no key 'img_path'"):
        build(dict(type='RSTPReid', data_root=root))


def test_empty_caption(tmp_path):
    root = make_text(tmp_path / 't', [record(1, 'a/1.jpg'), record(2, 'a/2.jpg', captions=('fine.', '  '))])
    with pytest.raises(ValueError, match='record 1: caption 1 is empty'):
        build(dict(type='CUHKPEDES', data_root=root))


def test_missing_annotation_file_lists_accepted_names(tmp_path):
    os.makedirs(tmp_path / 'icfg' / 'imgs')
    with pytest.raises(FileNotFoundError, match='ICFG-PEDES.json or ICFG_PEDES.json'):
        build(dict(type='ICFGPEDES', data_root=str(tmp_path / 'icfg')))


def test_text_split_with_zero_records(tmp_path):
    root = make_text(tmp_path / 't', [record(1, 'a/1.jpg')])
    with pytest.raises(ValueError, match="split 'test' yields zero samples"):
        build(dict(type='CUHKPEDES', data_root=root, split='test'))


def test_text_image_file_missing(tmp_path):
    root = make_text(tmp_path / 't', [record(1, 'a/1.jpg')])
    os.remove(osp.join(root, 'imgs', 'a', '1.jpg'))
    with pytest.raises(FileNotFoundError, match=r'record 0: image .*a/1.jpg'):
        build(dict(type='CUHKPEDES', data_root=root))


def test_weak_caption_falls_back_to_same_image(tmp_path):
    """An id with a single image: the weak positive is the image's other caption."""
    root = make_text(tmp_path / 't', [record(1, 'a/1.jpg', captions=('first.', 'second.'))])
    ds = build(dict(type='CUHKPEDES', data_root=root))
    assert [(ds.get_data_info(k)['caption'], ds.get_data_info(k)['weak_caption']) for k in range(2)] == \
        [('first.', 'second.'), ('second.', 'first.')]
