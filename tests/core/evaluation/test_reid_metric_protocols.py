"""ReIDMetric protocols SYSU-MM01, RegDB, text-image, checked against independent naive computations."""
import numpy as np
import pytest
import torch
from eval_reference import naive_rank, official_sysu_gallery

from plugins.core.evaluation import ReIDMetric, compute_distance, select_sysu_gallery


def sample(pid, cam, modality, feat, idx, role='gallery', path=None):
    return dict(pred_feature=torch.as_tensor(feat, dtype=torch.float32), gt_label=torch.tensor([pid]), camid=cam,
                modality=modality, split_role=role, img_path=path, sample_idx=idx)


def sysu_samples(seed=0, num_ids=6, dim=8, max_files=13):
    """Synthetic SYSU test set: infrared queries of cams 3/6, visible candidates of cams 1/2/4/5, some missing."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((num_ids, dim))
    out = []
    for pid in range(1, num_ids + 1):
        for cam in range(1, 7):
            if rng.random() < 0.2:
                continue  # this id was not seen by this camera
            infrared = cam in (3, 6)
            # file names listed out of order: the official code sorts them
            for k in rng.permutation(int(rng.integers(1, max_files))):
                feat = centres[pid - 1] + 1.2 * rng.standard_normal(dim)
                path = f'/sysu/cam{cam}/{pid:04d}/{k:04d}.jpg'
                out.append(sample(pid, cam - 1, 'infrared' if infrared else 'visible', feat, len(out),
                                  'query' if infrared else 'gallery', path))
    return out


def run(metric, samples):
    metric.process(None, samples)
    return metric.compute_metrics(metric.results)


def as_arrays(samples):
    feats = torch.stack([s['pred_feature'] for s in samples])
    pids = np.array([int(s['gt_label'][0]) for s in samples])
    cams = np.array([s['camid'] for s in samples])
    return feats, pids, cams


def naive_sysu(samples, trials, mode, shots=1, dist='euclidean'):
    """Official kind of evaluation: per trial draw the gallery from file paths, rank with a python loop."""
    cameras = [1, 2, 4, 5] if mode == 'all' else [1, 2]
    queries = [s for s in samples if s['modality'] == 'infrared']
    visible = [dict(pid=int(s['gt_label'][0]), camid=s['camid'], img_path=s['img_path'], s=s)
               for s in samples if s['modality'] == 'visible']
    by_path = {v['img_path']: v['s'] for v in visible}
    qf, qp, qc = as_arrays(queries)
    total = np.zeros(20)
    total_map = total_minp = 0.0
    for trial in range(trials):
        gallery = [by_path[p] for p in official_sysu_gallery(visible, trial, cameras, shots)]
        gf, gp, gc = as_arrays(gallery)
        distmat = compute_distance(qf, gf, dist).numpy()
        cmc, mAP, mINP = naive_rank(distmat, qp, gp, qc + 1, gc + 1, 20, sysu=True)
        total, total_map, total_minp = total + cmc, total_map + mAP, total_minp + mINP
    cmc = total / trials
    return dict(R1=cmc[0] * 100, R5=cmc[4] * 100, R10=cmc[9] * 100, R20=cmc[19] * 100,
                mAP=total_map / trials * 100, mINP=total_minp / trials * 100)


@pytest.mark.parametrize('mode', ['all', 'indoor'])
def test_sysu_gallery_selection_is_the_official_one(mode):
    samples = sysu_samples(seed=1)
    visible = [dict(pid=int(s['gt_label'][0]), camid=s['camid'], img_path=s['img_path'])
               for s in samples if s['modality'] == 'visible']
    cameras = [1, 2, 4, 5] if mode == 'all' else [1, 2]
    for trial in range(4):
        sel = select_sysu_gallery([v['pid'] for v in visible], [v['camid'] for v in visible],
                                  [v['img_path'] for v in visible], trial, mode)
        assert [visible[i]['img_path'] for i in sel] == official_sysu_gallery(visible, trial, cameras)
    # the draw does change with the trial
    draws = {tuple(select_sysu_gallery([v['pid'] for v in visible], [v['camid'] for v in visible],
                                       [v['img_path'] for v in visible], t, mode)) for t in range(4)}
    assert len(draws) > 1


def test_sysu_multi_shot_selection_is_the_official_one():
    samples = sysu_samples(seed=2, max_files=25)
    visible = [dict(pid=int(s['gt_label'][0]), camid=s['camid'], img_path=s['img_path'])
               for s in samples if s['modality'] == 'visible']
    # the official multi-shot code needs >= 10 files per (id, camera)
    counts = {}
    for v in visible:
        counts[(v['pid'], v['camid'])] = counts.get((v['pid'], v['camid']), 0) + 1
    visible = [v for v in visible if counts[(v['pid'], v['camid'])] >= 10]
    assert visible
    sel = select_sysu_gallery([v['pid'] for v in visible], [v['camid'] for v in visible],
                              [v['img_path'] for v in visible], 3, 'all', shots=10)
    assert [visible[i]['img_path'] for i in sel] == official_sysu_gallery(visible, 3, [1, 2, 4, 5], shots=10)


@pytest.mark.parametrize('mode,shots', [('all', 1), ('indoor', 1), ('all', 10)])
def test_sysu_metric_equals_official_loop(mode, shots):
    samples = sysu_samples(seed=3, max_files=14 if shots == 1 else 25)
    if shots > 1:  # keep the (id, camera) groups the official multi-shot code can draw from
        counts = {}
        for s in samples:
            key = (int(s['gt_label'][0]), s['camid'])
            counts[key] = counts.get(key, 0) + 1
        samples = [s for s in samples
                   if s['modality'] == 'infrared' or counts[(int(s['gt_label'][0]), s['camid'])] >= 10]
    res = run(ReIDMetric(protocol='sysu_mm01', search_mode=mode, trials=3, shots=shots), samples)
    ref = naive_sysu(samples, 3, mode, shots)
    for key, value in ref.items():
        assert res[key] == pytest.approx(value, abs=1e-4), key
    assert 0 < res['mAP'] < 100


def test_sysu_requires_infrared_queries():
    samples = [s for s in sysu_samples() if s['modality'] == 'visible']
    with pytest.raises(ValueError, match=r"protocol='sysu_mm01'.*no query samples.*infrared"):
        run(ReIDMetric(protocol='sysu_mm01'), samples)


def cross_modal_samples(seed, query_modality, gallery_modality, num_ids=10, per_id=3, dim=8):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((num_ids, dim))
    out = []
    for modality, cam in ((query_modality, 0), (gallery_modality, 1)):
        for pid in range(num_ids):
            for _ in range(per_id):
                out.append(sample(pid, cam, modality, centres[pid] + rng.standard_normal(dim), len(out)))
    return out


def naive_split(samples, q_modality, dist, same_cam_for_all=True):
    q = [s for s in samples if s['modality'] == q_modality]
    g = [s for s in samples if s['modality'] != q_modality]
    qf, qp, _ = as_arrays(q)
    gf, gp, _ = as_arrays(g)
    qf, gf = qf.double().numpy(), gf.double().numpy()
    if dist == 'cosine':
        qf = qf / np.linalg.norm(qf, axis=1, keepdims=True)
        gf = gf / np.linalg.norm(gf, axis=1, keepdims=True)
        distmat = 1 - qf @ gf.T
    else:
        distmat = ((qf[:, None] - gf[None]) ** 2).sum(-1)
    # the same camera for everybody would remove every true match: nothing may be removed in these protocols
    cmc, mAP, mINP = naive_rank(distmat, qp, gp, np.zeros(len(qp)), np.ones(len(gp)), 20)
    return dict(R1=cmc[0] * 100, R5=cmc[4] * 100, R10=cmc[9] * 100, R20=cmc[19] * 100, mAP=mAP * 100,
                mINP=mINP * 100)


@pytest.mark.parametrize('direction', ['v2t', 't2v'])
def test_regdb_both_directions(direction):
    samples = cross_modal_samples(4, 'visible', 'infrared')
    # RegDB gives each modality one camera id; give both the same id to prove no camera filtering happens
    for s in samples:
        s['camid'] = 0
    res = run(ReIDMetric(protocol='regdb', direction=direction), samples)
    ref = naive_split(samples, 'visible' if direction == 'v2t' else 'infrared', 'euclidean')
    for key, value in ref.items():
        assert res[key] == pytest.approx(value, abs=1e-4), key
    other = run(ReIDMetric(protocol='regdb', direction='t2v' if direction == 'v2t' else 'v2t'), samples)
    assert other != pytest.approx(res)  # the directions are different problems


def test_text_image_uses_cosine_and_captions_as_queries():
    samples = cross_modal_samples(5, 'text', 'image')
    for s in samples:
        s['camid'] = -1
        if s['modality'] == 'text':
            s['img_path'] = None
            s['pred_feature'] = s['pred_feature'] * float(np.random.default_rng(s['sample_idx']).uniform(0.1, 9))
    metric = ReIDMetric(protocol='text_image')
    assert metric.dist == 'cosine'
    res = run(metric, samples)
    ref = naive_split(samples, 'text', 'cosine')
    for key, value in ref.items():
        assert res[key] == pytest.approx(value, abs=1e-4), key
    with pytest.raises(ValueError, match=r"protocol='text_image'.*no query samples.*modality='text'"):
        run(ReIDMetric(protocol='text_image'), [s for s in samples if s['modality'] != 'text'])


def test_sysu_chunks_spanning_trials_give_the_same_result():
    samples = sysu_samples(seed=5)
    ref = run(ReIDMetric(protocol='sysu_mm01', trials=4), samples)
    for chunk in (1, 7, 50):
        assert run(ReIDMetric(protocol='sysu_mm01', trials=4, chunk_size=chunk), samples) == pytest.approx(ref)
