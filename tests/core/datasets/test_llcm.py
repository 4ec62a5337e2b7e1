"""LLCM: the parser on a hand-written tree of the real layout, and its evaluation against a naive re-implementation
of the authors' code (ZYK100/LLCM ``DEEN/data_manager.py`` process_query_llcm / process_gallery_llcm,
``DEEN/test.py`` with test_mode [1, 2] and [2, 1], ``DEEN/eval_metrics.py`` eval_llcm), seeded draws included."""
import os
import os.path as osp
import random

import numpy as np
import pytest
import torch
from dataset_test_utils import write_image
from mmpretrain.registry import DATASETS

import plugins  # noqa: F401
from plugins.core.evaluation import ReIDMetric

#: the hand-written test tree: pid -> {modality folder: [cameras]}; id 9 has only visible images, id 4 an
#: infrared camera 3 (the authors' infrared camera list has no cam3: never a query or a gallery image)
TEST_TREE = {2: {'test_vis': [1, 2, 5], 'test_nir': [1, 5]},
             4: {'test_vis': [3, 4], 'test_nir': [3, 4, 9]},
             7: {'test_vis': [1, 6, 9], 'test_nir': [2, 6]},
             9: {'test_vis': [2, 7], 'test_nir': []},
             11: {'test_vis': [5, 8], 'test_nir': [1, 8]}}
# and 20 more persons, 2 visible and 2 infrared cameras each, so that the CMC has more than 5 identities to rank
_cams = random.Random(0)
TEST_TREE.update({pid: {'test_vis': sorted(_cams.sample(range(1, 10), 2)),
                        'test_nir': sorted(_cams.sample((1, 2, 4, 5, 6, 7, 8, 9), 2))} for pid in range(20, 40)})
TRAIN_LINES = {'train_vis.txt': ['vis/0001/0001_c01_s185535_f7010_vis.jpg 0',
                                 'vis/0001/0001_c04_s185620_f7199_vis.jpg 0',
                                 'vis/0003/0003_c09_s190001_f12_vis.jpg 1'],
               'train_nir.txt': ['nir/0001/0001_c02_s185535_f7011_nir.jpg 0',
                                 'nir/0003/0003_c05_s190400_f55_nir.jpg 1']}


def write_llcm(root, images_per_folder=3):
    for name, lines in TRAIN_LINES.items():
        for line in lines:
            write_image(osp.join(root, line.split()[0]))
        os.makedirs(osp.join(root, 'idx'), exist_ok=True)
        with open(osp.join(root, 'idx', name), 'w') as f:
            f.write('\n'.join(lines) + '\n')
    for pid, folders in TEST_TREE.items():
        for folder, cams in folders.items():
            tag = folder[-3:]
            for cam in cams:
                for k in range(images_per_folder):
                    write_image(osp.join(root, folder, f'cam{cam}', f'{pid:04d}',
                                         f'{pid:04d}_c{cam:02d}_s{180000 + 7 * k}_f{k}_{tag}.jpg'))
    with open(osp.join(root, 'idx', 'test_id.txt'), 'w') as f:
        f.write(','.join(str(p) for p in sorted(TEST_TREE, reverse=True)) + '\n')  # any order, as the authors sort
    return str(root)


def build(cfg):
    return DATASETS.build(dict(cfg, verbose=False))


def test_train_split_reads_the_lists(tmp_path):
    root = write_llcm(tmp_path)
    ds = build(dict(type='LLCM', data_root=root, split='train'))
    got = [(osp.relpath(i['img_path'], root), i['gt_label'], i['camid'], i['modality'], i['split_role'])
           for i in (ds.get_data_info(k) for k in range(len(ds)))]
    assert got == [('vis/0001/0001_c01_s185535_f7010_vis.jpg', 0, 0, 'visible', 'train'),
                   ('vis/0001/0001_c04_s185620_f7199_vis.jpg', 0, 3, 'visible', 'train'),
                   ('vis/0003/0003_c09_s190001_f12_vis.jpg', 1, 8, 'visible', 'train'),
                   ('nir/0001/0001_c02_s185535_f7011_nir.jpg', 0, 1, 'infrared', 'train'),
                   ('nir/0003/0003_c05_s190400_f55_nir.jpg', 1, 4, 'infrared', 'train')]
    assert ds.metainfo['num_classes'] == 2 and ds.metainfo['dataset_name'] == 'llcm'


def test_test_split_reads_the_camera_folders(tmp_path):
    root = write_llcm(tmp_path)
    ds = build(dict(type='LLCM', data_root=root, split='test'))
    infos = [ds.get_data_info(k) for k in range(len(ds))]
    expected = {osp.join(root, folder, f'cam{cam}', f'{pid:04d}', f'{pid:04d}_c{cam:02d}_s{180000 + 7 * k}_f{k}_'
                         f'{folder[-3:]}.jpg'): (pid, cam - 1, 'infrared' if folder == 'test_nir' else 'visible')
                for pid, folders in TEST_TREE.items() for folder, cams in folders.items() for cam in cams
                for k in range(3)}
    assert {i['img_path']: (i['gt_label'], i['camid'], i['modality']) for i in infos} == expected
    assert all(i['split_role'] == ('query' if i['modality'] == 'infrared' else 'gallery') for i in infos)


def test_layout_errors_name_the_file(tmp_path):
    root = write_llcm(tmp_path)
    os.remove(osp.join(root, 'idx', 'train_nir.txt'))
    with pytest.raises(FileNotFoundError, match=r'training list not found: .*idx/train_nir.txt'):
        build(dict(type='LLCM', data_root=root, split='train'))
    with open(osp.join(root, 'idx', 'test_id.txt'), 'a') as f:
        f.write('')
    with open(osp.join(root, 'idx', 'test_id.txt')) as f:
        ids = f.read().strip()
    with open(osp.join(root, 'idx', 'test_id.txt'), 'w') as f:
        f.write(ids + ',13\n')
    with pytest.raises(ValueError, match=r'test id 13 of idx/test_id.txt has no images'):
        build(dict(type='LLCM', data_root=root, split='test'))


# -- the authors' evaluation, re-implemented naively from their code -------------------------------------------
VIS_CAMS = [f'test_vis/cam{k}' for k in range(1, 10)]
NIR_CAMS = [f'test_nir/cam{k}' for k in (1, 2, 4, 5, 6, 7, 8, 9)]


def authors_files(root, cameras, trial=None):
    """process_query_llcm (trial None: every file) / process_gallery_llcm (one random.choice per folder)."""
    if trial is not None:
        random.seed(trial)
    with open(osp.join(root, 'idx', 'test_id.txt')) as f:
        ids = ['%04d' % int(y) for y in f.read().splitlines()[0].split(',')]
    files = []
    for pid in sorted(ids):
        for cam in cameras:
            folder = osp.join(root, cam, pid)
            if osp.isdir(folder):
                names = sorted(folder + '/' + n for n in os.listdir(folder))
                files += names if trial is None else [random.choice(names)]
    cams = np.array([int(osp.relpath(p, root).split('cam')[1][0]) for p in files])
    pids = np.array([int(osp.relpath(p, root).split('cam')[1][2:6]) for p in files])
    return files, pids, cams


def authors_eval(distmat, q_pids, g_pids, q_camids, g_camids, max_rank=20):
    """eval_llcm: remove the query's id in its camera; identity-once CMC; AP and INP on the kept ranking."""
    indices = np.argsort(distmat, axis=1)
    cmcs, aps, inps = [], [], []
    for q in range(len(q_pids)):
        order = indices[q]
        keep = ~((g_pids[order] == q_pids[q]) & (g_camids[order] == q_camids[q]))
        ranked = g_pids[order][keep]
        seen = []
        for pid in ranked:  # each identity once, in ranking order
            if pid not in seen:
                seen.append(pid)
        hits = (ranked == q_pids[q]).astype(int)
        if not hits.any():
            continue
        cmc = (np.array(seen) == q_pids[q]).astype(int).cumsum()[:max_rank]
        cmcs.append(np.pad(cmc, (0, max_rank - len(cmc)), mode='edge'))
        positions = np.flatnonzero(hits)
        aps.append(np.mean([(k + 1) / (p + 1) for k, p in enumerate(positions)]))
        inps.append(hits.sum() / (positions[-1] + 1))
    return np.mean(cmcs, axis=0), np.mean(aps), np.mean(inps)


def authors_protocol(root, feature_of, direction):
    """DEEN/test.py for LLCM: test_mode [1, 2] (ir2vis) or [2, 1] (vis2ir), 10 trials, mean of the metrics."""
    query_cams, gallery_cams = (NIR_CAMS, VIS_CAMS) if direction == 'ir2vis' else (VIS_CAMS, NIR_CAMS)
    q_files, q_pids, q_cams = authors_files(root, query_cams)
    q_feat = np.stack([feature_of[p] for p in q_files])
    results = []
    for trial in range(10):
        g_files, g_pids, g_cams = authors_files(root, gallery_cams, trial)
        g_feat = np.stack([feature_of[p] for p in g_files])
        dist = ((q_feat[:, None] - g_feat[None]) ** 2).sum(-1)  # the metric's squared euclidean
        if direction == 'ir2vis':
            results.append(authors_eval(dist, q_pids, g_pids, q_cams, g_cams))
        else:  # the authors transpose the distances and swap the label / camera arguments in this mode
            results.append(authors_eval(dist.T, g_pids, q_pids, g_cams, q_cams))
    cmc = np.mean([r[0] for r in results], axis=0)
    return dict(R1=cmc[0], R5=cmc[4], R10=cmc[9], R20=cmc[19], mAP=np.mean([r[1] for r in results]),
                mINP=np.mean([r[2] for r in results]))


def metric_of(ds, feature_of, **options):
    metric = ReIDMetric(protocol='llcm', **options)
    infos = [ds.get_data_info(k) for k in range(len(ds))]
    metric.process({}, [dict(i, pred_feature=torch.as_tensor(feature_of[i['img_path']]), gt_label=i['gt_label'])
                        for i in infos])
    return metric.compute_metrics(metric.results)


@pytest.mark.parametrize('direction', ['ir2vis', 'vis2ir'])
def test_metric_is_the_authors_evaluation(tmp_path, direction):
    root = write_llcm(tmp_path, images_per_folder=4)
    ds = build(dict(type='LLCM', data_root=root, split='test'))
    rng = np.random.default_rng(3)
    # features with some identity signal, so that every metric is far from 0 and from 100
    centre = {pid: rng.normal(size=8) for pid in TEST_TREE}
    feature_of = {}
    for k in range(len(ds)):
        info = ds.get_data_info(k)
        feature_of[info['img_path']] = (centre[info['gt_label']] + 0.9 * rng.normal(size=8)).astype(np.float32)
    expected = authors_protocol(root, {p: f.astype(np.float64) for p, f in feature_of.items()}, direction)
    got = metric_of(ds, feature_of, direction=direction)
    assert 5 < got['mAP'] < 95 and 5 < got['R1'] < 95 and got['R5'] < 100
    for key, value in expected.items():
        assert got[key] == pytest.approx(100 * value, abs=1e-4), key  # float32 CMC, as torchreid


def test_draws_depend_on_the_trial_and_more_trials_change_the_mean(tmp_path):
    """The seeded draw picks other images in other trials (3 files per folder), and the metric averages them."""
    root = write_llcm(tmp_path)
    picks = [tuple(authors_files(root, VIS_CAMS, trial)[0]) for trial in range(10)]
    assert len(set(picks)) > 5
    from plugins.core.evaluation.protocols import LLCMProtocol
    ds = build(dict(type='LLCM', data_root=root, split='test'))
    records = [dict(ds.get_data_info(k), pid=ds.get_data_info(k)['gt_label']) for k in range(len(ds))]
    problems = LLCMProtocol('ir2vis', trials=10).split(records)
    drawn = [tuple(records[i]['img_path'] for i in p.gallery) for p in problems]
    assert [tuple(osp.normpath(f) for f in p) for p in picks] == drawn  # the authors' draw, file for file
    cam3 = [r for r in records if r['modality'] == 'infrared' and r['camid'] == 2]
    assert cam3 and not {records[i]['img_path'] for i in problems[0].query} & {r['img_path'] for r in cam3}
