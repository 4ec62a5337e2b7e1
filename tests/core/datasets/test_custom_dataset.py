"""CustomReIDDataset / CustomTextImageDataset: a user's folders and annotation files, cameras optional."""
import json
import os.path as osp

import pytest
from dataset_test_utils import write_image

from plugins.core.datasets import CustomReIDDataset, CustomTextImageDataset


def person_folders(root, parts=(('train', ('alice', 'bob', 'carl')), ('query', ('dan', 'eve')),
                                ('gallery', ('dan', 'eve', 'fay'))), per_id=2, ext='.png'):
    for part, names in parts:
        for name in names:
            for k in range(per_id):
                write_image(root / part / name / f'shot {k}{ext}')
    return str(root)


def infos(ds):
    return [ds.get_data_info(i) for i in range(len(ds))]


def test_person_folders_without_cameras(tmp_path):
    root = person_folders(tmp_path)
    write_image(tmp_path / 'train' / 'bob' / 'sub' / 'x.JPG')  # nested folder, upper-case extension
    (tmp_path / 'train' / 'notes.txt').write_text('not a person folder')
    write_image(tmp_path / 'train' / '.ipynb_checkpoints' / 'x.png')  # hidden folder: not a person
    (tmp_path / 'train' / 'carl' / 'Thumbs.db').write_text('')
    train = CustomReIDDataset(root, split='train')
    assert len(train) == 7 and train.metainfo['num_classes'] == 3
    assert sorted(osp.basename(p) for p in train.skipped_files) == ['Thumbs.db', 'notes.txt']
    assert sorted({i['gt_label'] for i in infos(train)}) == [0, 1, 2]
    assert all(i['camid'] == -1 and i['modality'] == 'image' and i['split_role'] == 'train' for i in infos(train))
    test = CustomReIDDataset(root, split='test')
    by_role = {}
    for i in infos(test):
        by_role.setdefault(i['split_role'], []).append(i)
    assert len(by_role['query']) == 4 and len(by_role['gallery']) == 6
    # names numbered over query + gallery: dan / eve get the same id on both sides
    q_ids = {i['img_path'].split('/')[-2]: i['gt_label'] for i in by_role['query']}
    g_ids = {i['img_path'].split('/')[-2]: i['gt_label'] for i in by_role['gallery']}
    assert q_ids == {k: g_ids[k] for k in q_ids} and len(set(g_ids.values())) == 3


def test_camera_regex_and_mixed_cameras_refused(tmp_path):
    for part, pid in (('train', 1), ('train', 2)):
        for cam in (1, 2):
            write_image(tmp_path / part / str(pid) / f'{pid}_c{cam}_x.jpg')
    ds = CustomReIDDataset(str(tmp_path), camera_regex=r'_c(\d+)_')
    assert sorted({i['camid'] for i in infos(ds)}) == [1, 2]
    write_image(tmp_path / 'train' / '2' / 'no_camera.jpg')
    with pytest.raises(ValueError, match=r"4 samples of split 'train' have a camera id and 1 have none .*no_camera"):
        CustomReIDDataset(str(tmp_path), camera_regex=r'_c(\d+)_')


def test_annotation_files_txt_and_csv(tmp_path):
    for name in ('a', 'b', 'c', 'd', 'e', 'f'):
        write_image(tmp_path / 'imgs' / f'{name}.jpg')
    (tmp_path / 'train.txt').write_text('imgs/a.jpg 5 0 visible\nimgs/b.jpg 5 1 infrared\n\nimgs/c.jpg 9 0 rgb\n')
    (tmp_path / 'query.csv').write_text('modality,pid,path,camid\nthermal,3,imgs/d.jpg,1\n')
    (tmp_path / 'gallery.csv').write_text('path,pid,camid,modality\nimgs/e.jpg,3,0,visible\nimgs/f.jpg,4,0,visible\n')
    train = CustomReIDDataset(str(tmp_path))
    assert [(i['gt_label'], i['camid'], i['modality']) for i in infos(train)] == [
        (0, 0, 'visible'), (0, 1, 'infrared'), (1, 0, 'visible')]
    test = CustomReIDDataset(str(tmp_path), split='test')
    assert [(i['gt_label'], i['split_role'], i['modality']) for i in infos(test)] == [
        (3, 'query', 'infrared'), (3, 'gallery', 'visible'), (4, 'gallery', 'visible')]
    (tmp_path / 'train.txt').write_text('imgs/a.jpg 5\nimgs/missing.jpg 6\n')
    with pytest.raises(FileNotFoundError, match=r'train\.txt:2: image .*missing\.jpg does not exist'):
        CustomReIDDataset(str(tmp_path))
    (tmp_path / 'train.txt').write_text('imgs/a.jpg five\n')
    with pytest.raises(ValueError, match=r"train\.txt:1: person id 'five' is not an integer"):
        CustomReIDDataset(str(tmp_path))


def test_missing_part_names_the_layout(tmp_path):
    person_folders(tmp_path, parts=(('train', ('a',)), ('query', ('b',))))
    with pytest.raises(FileNotFoundError, match=r"'gallery' folder .*gallery\.csv"):
        CustomReIDDataset(str(tmp_path), split='test')


def test_captioned_crops_json_txt_and_several_captions(tmp_path):
    for name in ('a', 'b', 'c', 'd'):
        write_image(tmp_path / 'imgs' / f'{name}.jpg')
    json.dump([dict(path='imgs/a.jpg', pid=1, captions=['A man in red.', 'Red coat man.']),
               dict(file_path='imgs/b.jpg', id=1, caption='A man walking.'),
               dict(path='imgs/c.jpg', pid=2, captions=['A woman in blue.'])], open(tmp_path / 'train.json', 'w'))
    (tmp_path / 'test.txt').write_text('imgs/d.jpg 7 A girl with a bag.\nimgs/c.jpg 8 A woman, blue dress.\n'
                                       'imgs/d.jpg 7 Girl carrying a black bag.\n')
    train = CustomTextImageDataset(str(tmp_path))
    assert [(i['gt_label'], i['caption']) for i in infos(train)] == [
        (0, 'A man in red.'), (0, 'Red coat man.'), (0, 'A man walking.'), (1, 'A woman in blue.')]
    assert infos(train)[2]['weak_caption'] == 'A man in red.'  # a caption of the other image of the same id
    test = CustomTextImageDataset(str(tmp_path), split='test')
    images = [i for i in infos(test) if i['modality'] == 'image']
    texts = [(i['gt_label'], i['caption']) for i in infos(test) if i['modality'] == 'text']
    assert len(images) == 2 and all(i['split_role'] == 'gallery' for i in images)
    assert texts == [(7, 'A girl with a bag.'), (7, 'Girl carrying a black bag.'), (8, 'A woman, blue dress.')]
    with pytest.raises(FileNotFoundError, match=r"split 'val' \(val\.json"):
        CustomTextImageDataset(str(tmp_path), split='val')
