"""Market-1501, DukeMTMC-reID, CUHK03-NP and the torchreid bridge on the demo data (counts from the files)."""
import glob
import os
import os.path as osp

import pytest
from mmpretrain.registry import DATASETS

import plugins  # noqa: F401  (registers the data sets)


def expected_from_files(folder, ext):
    """(pid, camid 0-based) of every file of ``folder``, junk (pid -1) dropped: read by splitting on '_'."""
    out = {}
    for name in os.listdir(folder):
        if not name.endswith(ext):
            continue
        pid_text, cam_text = name.split('_')[:2]
        if pid_text == '-1':
            continue
        out[osp.join(folder, name)] = (int(pid_text), int(cam_text[1:].split('s')[0]) - 1)
    return out


def build(cfg):
    return DATASETS.build(dict(cfg, verbose=False))


def check_train(ds, folder, ext):
    files = expected_from_files(folder, ext)
    infos = [ds.get_data_info(i) for i in range(len(ds))]
    assert len(infos) == len(files)
    pids = sorted({pid for pid, _ in files.values()})
    assert ds.metainfo['num_classes'] == len(pids)
    for i, info in enumerate(infos):
        pid, camid = files[info['img_path']]
        assert info['gt_label'] == pids.index(pid)  # sorted original ids -> 0..N-1
        assert info['camid'] == camid
        assert (info['modality'], info['split_role'], info['sample_idx']) == ('image', 'train', i)


def check_test(ds, query_dir, gallery_dir, ext):
    expected = {**{p: (v, 'query') for p, v in expected_from_files(query_dir, ext).items()},
                **{p: (v, 'gallery') for p, v in expected_from_files(gallery_dir, ext).items()}}
    infos = [ds.get_data_info(i) for i in range(len(ds))]
    assert len(infos) == len(expected)
    assert 'num_classes' not in ds.metainfo
    for info in infos:
        (pid, camid), role = expected[info['img_path']]
        assert (info['gt_label'], info['camid'], info['split_role']) == (pid, camid, role)
    return infos


def test_market1501_train(demo_root):
    root = osp.join(demo_root, 'market1501')
    ds = build(dict(type='Market1501', data_root=root, split='train'))
    check_train(ds, osp.join(root, 'Market-1501-v15.09.15', 'bounding_box_train'), '.jpg')
    assert ds.metainfo['dataset_name'] == 'market1501'
    assert ds.metainfo['num_classes'] == 30


def test_market1501_test_junk_and_distractors(demo_root):
    base = osp.join(demo_root, 'market1501', 'Market-1501-v15.09.15')
    ds = build(dict(type='Market1501', data_root=osp.join(demo_root, 'market1501'), split='test'))
    infos = check_test(ds, osp.join(base, 'query'), osp.join(base, 'bounding_box_test'), '.jpg')
    gallery_names = os.listdir(osp.join(base, 'bounding_box_test'))
    n_junk = sum(n.startswith('-1_') for n in gallery_names)
    n_distractor = sum(n.startswith('0000_') for n in gallery_names)
    assert n_junk > 0 and n_distractor > 0  # the demo exercises both
    assert all(i['gt_label'] != -1 for i in infos)  # junk dropped as torchreid does
    assert sum(i['gt_label'] == 0 for i in infos) == n_distractor  # distractors kept in the gallery
    # every query has a same-id gallery image from another camera (a valid Market query)
    gallery = {(i['gt_label'], i['camid']) for i in infos if i['split_role'] == 'gallery'}
    for q in (i for i in infos if i['split_role'] == 'query'):
        assert any(pid == q['gt_label'] and cam != q['camid'] for pid, cam in gallery)


def test_market1501_accepts_flat_layout(demo_root, tmp_path):
    """The three folders directly in data_root (no Market-1501-v15.09.15 level) parse the same."""
    os.symlink(osp.join(demo_root, 'market1501', 'Market-1501-v15.09.15'), tmp_path / 'flat')
    nested = build(dict(type='Market1501', data_root=osp.join(demo_root, 'market1501'), split='train'))
    flat = build(dict(type='Market1501', data_root=str(tmp_path / 'flat'), split='train'))
    assert [osp.basename(flat.get_data_info(i)['img_path']) for i in range(len(flat))] == \
        [osp.basename(nested.get_data_info(i)['img_path']) for i in range(len(nested))]


def test_statistics_table_matches_counts(demo_root):
    base = osp.join(demo_root, 'market1501', 'Market-1501-v15.09.15')
    ds = build(dict(type='Market1501', data_root=osp.join(demo_root, 'market1501'), split='test'))
    rows = {line.split('|')[0].strip(): [int(v) for v in line.split('|')[1:]]
            for line in ds.statistics_table().splitlines() if '|' in line and '#' not in line}
    query = expected_from_files(osp.join(base, 'query'), '.jpg')
    assert rows['query'] == [len({p for p, _ in query.values()}), len(query), len({c for _, c in query.values()})]
    gallery = expected_from_files(osp.join(base, 'bounding_box_test'), '.jpg')
    assert rows['gallery'][1] == len(gallery)


def test_dukemtmc(demo_root):
    root = osp.join(demo_root, 'dukemtmc-reid')
    base = osp.join(root, 'DukeMTMC-reID')
    check_train(build(dict(type='DukeMTMCReID', data_root=root, split='train')),
                osp.join(base, 'bounding_box_train'), '.jpg')
    infos = check_test(build(dict(type='DukeMTMCReID', data_root=root, split='test')),
                       osp.join(base, 'query'), osp.join(base, 'bounding_box_test'), '.jpg')
    assert max(i['camid'] for i in infos) <= 7
    # Duke's gallery-only distractor identities are kept with their own ids
    query_ids = {i['gt_label'] for i in infos if i['split_role'] == 'query'}
    assert {i['gt_label'] for i in infos if i['split_role'] == 'gallery'} - query_ids


@pytest.mark.parametrize('variant', ['labeled', 'detected'])
def test_cuhk03_np(demo_root, variant):
    root = osp.join(demo_root, 'cuhk03')
    base = osp.join(root, 'cuhk03-np', variant)
    ds = build(dict(type='CUHK03NP', data_root=root, split='train', variant=variant))
    check_train(ds, osp.join(base, 'bounding_box_train'), '.png')
    assert all(variant in ds.get_data_info(i)['img_path'] for i in range(len(ds)))
    check_test(build(dict(type='CUHK03NP', data_root=root, split='test', variant=variant)),
               osp.join(base, 'query'), osp.join(base, 'bounding_box_test'), '.png')


def test_cuhk03_np_bad_variant(demo_root):
    with pytest.raises(ValueError, match='variant'):
        build(dict(type='CUHK03NP', data_root=osp.join(demo_root, 'cuhk03'), variant='manual'))


@pytest.mark.parametrize('name,folder,cls', [('market1501', 'market1501', 'Market1501'),
                                             ('dukemtmcreid', 'dukemtmc-reid', 'DukeMTMCReID'),
                                             ('msmt17', 'msmt17', 'MSMT17')])
def test_torchreid_bridge_matches_native_parser(demo_root, name, folder, cls):
    for split in ('train', 'test'):
        bridged = build(dict(type='TorchreidDataset', name=name, root=demo_root, split=split))
        native = build(dict(type=cls, data_root=osp.join(demo_root, folder), split=split))
        infos = lambda d: {i['img_path']: i for i in (d.get_data_info(k) for k in range(len(d)))}  # noqa: E731
        b, n = infos(bridged), infos(native)
        assert set(b) == set(n)
        assert all((b[p]['camid'], b[p]['split_role']) == (n[p]['camid'], n[p]['split_role']) for p in b)
        if split == 'test':  # original ids on both sides
            assert all(b[p]['gt_label'] == n[p]['gt_label'] for p in b)
        else:  # torchreid relabels in set order, we in sorted order: the same partition into identities
            mapping = {n[p]['gt_label']: b[p]['gt_label'] for p in b}
            assert all(mapping[n[p]['gt_label']] == b[p]['gt_label'] for p in b)
            assert sorted(mapping.values()) == list(range(native.metainfo['num_classes']))
        assert bridged.metainfo.get('num_classes') == native.metainfo.get('num_classes')


def test_torchreid_bridge_errors(tmp_path):
    with pytest.raises(KeyError, match='unknown torchreid image data set'):
        build(dict(type='TorchreidDataset', name='nope', root=str(tmp_path)))
    with pytest.raises(FileNotFoundError, match='market1501'):  # no download attempt: a clear error
        build(dict(type='TorchreidDataset', name='market1501', root=str(tmp_path)))


def test_demo_file_names_follow_real_patterns(demo_root):
    import re
    market = glob.glob(osp.join(demo_root, 'market1501', '*', 'bounding_box_test', '*.jpg'))
    assert market and all(re.fullmatch(r'(-1|\d{4})_c\ds\d_\d{6}_\d{2}\.jpg', osp.basename(p)) for p in market)
    duke = glob.glob(osp.join(demo_root, 'dukemtmc-reid', 'DukeMTMC-reID', '*', '*.jpg'))
    assert duke and all(re.fullmatch(r'\d{4}_c\d_f\d{7}\.jpg', osp.basename(p)) for p in duke)
