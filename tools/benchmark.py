"""Benchmarks of the plugin, printed and written as a Markdown table (``docs/benchmark.md`` by default).

Usage::

    python tools/benchmark.py            # full sizes (Market-1501: 3,368 x 15,913, 751 ids, 6 cameras, 512-d)
    python tools/benchmark.py --quick    # smaller sizes, torchreid's python loop on a query subsample (< 2 min)
    python tools/benchmark.py --sections market sysu

Sections: ``market`` / ``sysu`` / ``large`` (evaluation), ``train`` (each published method's training step
against its encoders' forward + backward, MatchDistillHook's share of CAL's step) and ``loader`` (images per
second of each published training pipeline on 2 workers; the demo data sets are generated when missing).
Each section is a function ``section(args) -> Section`` registered with the ``@section`` decorator.
"""
import argparse
import datetime
import gc
import importlib
import importlib.util
import os
import os.path as osp
import platform
import random
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)

from plugins.core.evaluation.distance import compute_distance  # noqa: E402
from plugins.core.evaluation.rank import argsort_rows, evaluate_features, evaluate_rank  # noqa: E402
from plugins.core.evaluation.reid_metric import ReIDMetric, select_sysu_gallery  # noqa: E402

with warnings.catch_warnings():
    warnings.simplefilter('ignore')  # torchreid warns when its Cython extension is missing
    from torchreid.reid.metrics.rank import evaluate_py as torchreid_evaluate_py


@dataclass
class Section:
    """One table of the report: a title, column names, rows and free-text notes."""
    title: str
    columns: list
    rows: list = field(default_factory=list)
    notes: list = field(default_factory=list)

    def markdown(self):
        lines = [f'### {self.title}', '', '| ' + ' | '.join(self.columns) + ' |',
                 '|' + '|'.join('---' for _ in self.columns) + '|']
        lines += ['| ' + ' | '.join(str(c) for c in row) + ' |' for row in self.rows]
        if self.notes:
            lines += [''] + [f'- {n}' for n in self.notes]
        return '\n'.join(lines) + '\n'


SECTIONS = {}


def section(name):
    """Register a benchmark section under ``name`` (run in registration order)."""
    def register(fn):
        SECTIONS[name] = fn
        return fn
    return register


def best_time(fn, repeats):
    """Smallest wall time of ``repeats`` calls (the least disturbed one on a shared machine) and the result."""
    best, out = float('inf'), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def synthetic_reid(num_q, num_g, num_ids, num_cams, dim, seed=0, noise=3.0):
    """Features = identity centre + gaussian noise (a mid-difficulty problem), random cameras.

    Features are filled in row blocks so that generating a large gallery needs no temporary copies (the
    large-gallery case measures the evaluation's own peak memory)."""
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    centres = torch.randn(num_ids, dim, generator=gen)
    q_pids, g_pids = rng.integers(0, num_ids, num_q), rng.integers(0, num_ids, num_g)

    def features(pids):
        out = torch.empty(len(pids), dim)
        for start in range(0, len(pids), 4096):
            block = out[start:start + 4096]
            torch.randn(block.shape, generator=gen, out=block)
            block.mul_(noise).add_(centres[torch.from_numpy(pids[start:start + 4096])])
        return out

    return (features(q_pids), features(g_pids), q_pids, g_pids, rng.integers(0, num_cams, num_q),
            rng.integers(0, num_cams, num_g))


def fmt(seconds):
    return f'{seconds:.3f}'


def try_torchreid_cython(pyx=None):
    """torchreid's Cython ``evaluate_cy`` if it is built or buildable, else a reason.

    Args:
        pyx (str, optional): a ``rank_cy.pyx`` to build, e.g. from a deep-person-reid checkout
            (``torchreid/metrics/rank_cylib/rank_cy.pyx``): the PyPI wheel and sdist of torchreid 0.2.5 ship
            neither the source nor the built module.
    """
    if pyx is None:
        try:
            from torchreid.reid.metrics.rank_cylib.rank_cy import evaluate_cy
            return evaluate_cy, 'built'
        except ImportError:
            pass
        import torchreid.reid.metrics.rank_cylib as cylib
        pyx = osp.join(osp.dirname(cylib.__file__), 'rank_cy.pyx')
        if not osp.exists(pyx):
            return None, ('not available: the installed torchreid ships no rank_cy.pyx source to build '
                          '(pass one from a deep-person-reid checkout with --rank-cy)')
    if not osp.isfile(pyx):
        return None, f'not available: --rank-cy {pyx} is not a file'
    try:
        import pyximport
        pyximport.install(setup_args=dict(include_dirs=[np.get_include()]), language_level=3)
        sys.path.insert(0, osp.dirname(osp.abspath(pyx)))
        module = importlib.import_module(osp.splitext(osp.basename(pyx))[0])
        return module.evaluate_cy, f'built with pyximport from {pyx}'
    except Exception as err:  # Cython missing or the build failed
        return None, f'not available: {type(err).__name__}: {err}'


@section('market')
def market_section(args):
    """Market-1501-sized evaluation: torchreid's python loop vs the plugin vs distance + argsort alone."""
    if args.quick:
        num_q, num_g, sub, repeats = 1684, 7957, 150, 2
    else:
        num_q, num_g, sub, repeats = 3368, 15913, 3368, 3
    qf, gf, q_pids, g_pids, q_cams, g_cams = synthetic_reid(num_q, num_g, 751, 6, 512, seed=args.seed)
    sec = Section(f'Market-1501-sized evaluation ({num_q} queries x {num_g} gallery, 751 ids, 6 cameras, 512-d)',
                  ['step', 'seconds', 'ratio'])

    t_dist, distmat = best_time(lambda: compute_distance(qf, gf), repeats)
    t_sort, _ = best_time(lambda: argsort_rows(distmat), repeats)
    t_rank, ours = best_time(lambda: evaluate_rank(distmat, q_pids, g_pids, q_cams, g_cams), repeats)
    t_fused, fused = best_time(lambda: evaluate_features(qf, gf, q_pids, g_pids, q_cams, g_cams), repeats)
    floor = t_dist + t_sort

    # torchreid's python evaluate_rank (what the PyPI package runs without its Cython build)
    dist_np = distmat[:sub].numpy()
    t_ref, ref = best_time(
        lambda: torchreid_evaluate_py(dist_np, q_pids[:sub], g_pids, q_cams[:sub], g_cams, 50, False), 1)
    t_ours_sub, ours_sub = best_time(lambda: evaluate_rank(distmat[:sub], q_pids[:sub], g_pids, q_cams[:sub],
                                                           g_cams), repeats)
    if sub == num_q:  # the same call as t_rank: both measurements are runs of it
        t_ours_sub = min(t_ours_sub, t_rank)
    cmc_diff = float(np.abs(ref[0] - ours_sub[0]).max())
    map_diff = abs(float(ref[1]) - ours_sub[1])
    scale = num_q / sub
    t_ref_full = t_ref * scale
    speedup = t_ref / t_ours_sub

    sec.rows += [
        ['distance (chunked matmul, float32)', fmt(t_dist), ''],
        ['argsort of every row (np.argsort, torchreid\'s order)', fmt(t_sort), ''],
        ['**floor: distance + argsort**', fmt(floor), '1.00'],
        ['plugin `evaluate_rank` on the distance matrix', fmt(t_rank), ''],
        ['plugin distance + `evaluate_rank`', fmt(t_dist + t_rank), f'{(t_dist + t_rank) / floor:.2f} x floor'],
        ['plugin fused `evaluate_features` (no full matrix)', fmt(t_fused), f'{t_fused / floor:.2f} x floor'],
        [f'torchreid python `evaluate_rank` ({sub} queries)', fmt(t_ref), ''],
        [f'plugin `evaluate_rank` ({sub} queries)', fmt(t_ours_sub), f'**{speedup:.1f} x faster**'],
    ]
    if sub < num_q:
        sec.rows.append([f'torchreid python, extrapolated to {num_q} queries', fmt(t_ref_full),
                         f'{t_ref_full / t_rank:.1f} x the plugin'])
    evaluate_cy, how = try_torchreid_cython(args.rank_cy)
    if evaluate_cy is not None:
        t_cy, cy = best_time(lambda: evaluate_cy(distmat.numpy(), q_pids, g_pids, q_cams, g_cams, 50, False), 1)
        sec.rows.append(['torchreid Cython `evaluate_cy`', fmt(t_cy), f'{t_cy / t_rank:.2f} x the plugin'])
        sec.notes.append(f'torchreid Cython `evaluate_cy` ({how}): max |dCMC| = '
                         f'{float(np.abs(cy[0] - ours[0]).max()):.1e}, |dmAP| = {abs(float(cy[1]) - ours[1]):.1e}.')
    else:
        sec.notes.append(f'torchreid Cython `evaluate_cy`: {how}.')
    sec.notes += [
        f'parity with torchreid ({sub} queries): max |dCMC| = {cmc_diff:.1e}, |dmAP| = {map_diff:.1e}; '
        f'plugin R1 = {ours[0][0] * 100:.2f}%, mAP = {ours[1] * 100:.2f}%, mINP = {ours[2] * 100:.2f}%; '
        f'fused = matrix path: {bool(np.array_equal(fused[0], ours[0]) and abs(fused[1] - ours[1]) < 1e-9)}.',
        f'times are the best of {repeats} runs (torchreid: 1 run).',
    ]
    return sec


def official_sysu_loop(q_feats, q_pids, q_cams, cand, trials, mode, max_rank=20):
    """An evaluation of the official kind (AGW / DDAG ``test.py`` + ``eval_sysu``), step for step: per trial
    draw the gallery with python's ``random``, numpy distances, one argsort, then a python loop per query with
    the official per-query operations (``np.unique`` first occurrences listed in python, AP from a python list
    of precisions). Cameras are 1-based inside, as in the official code."""
    cameras = [1, 2, 4, 5] if mode == 'all' else [1, 2]
    total_cmc, total_map, total_minp = 0, 0.0, 0.0
    for trial in range(trials):
        random.seed(trial)
        files = []
        for pid in sorted(set(cand['pids'].tolist())):
            for cam in cameras:
                group = sorted(cand['by_key'].get((pid, cam - 1), []))
                if group:
                    files.append(random.choice(group))
        g_feats, g_pids, g_cams = cand['feats'][files], cand['pids'][files], cand['cams'][files] + 1
        distmat = 1 - np.matmul(q_feats, g_feats.T)
        indices = np.argsort(distmat, axis=1)
        pred_label = g_pids[indices]
        matches = (pred_label == q_pids[:, None]).astype(np.int32)
        id_cmcs, aps, inps = [], [], []
        for i in range(len(q_pids)):
            keep = np.invert((q_cams[i] + 1 == 3) & (g_cams[indices[i]] == 2))
            ranked = pred_label[i][keep]
            first_idx = np.unique(ranked, return_index=True)[1]
            unique_ids = [ranked[j] for j in sorted(first_idx)]
            id_cmcs.append((np.asarray(unique_ids) == q_pids[i]).astype(np.int32).cumsum()[:max_rank])
            raw = matches[i][keep]
            if not np.any(raw):
                continue
            cum = raw.cumsum()
            last = np.max(np.where(raw == 1))
            inps.append(cum[last] / (last + 1.0))
            precisions = [x / (k + 1.0) for k, x in enumerate(cum)]
            aps.append((np.asarray(precisions) * raw).sum() / raw.sum())
        total_cmc = total_cmc + np.asarray(id_cmcs).astype(np.float32).sum(0) / len(aps)
        total_map, total_minp = total_map + np.mean(aps), total_minp + np.mean(inps)
    return total_cmc / trials, total_map / trials, total_minp / trials


@section('sysu')
def sysu_section(args):
    """SYSU-MM01 10-trial evaluation: an official-style python loop vs ReIDMetric(protocol='sysu_mm01')."""
    num_ids, per_group, num_q, trials, dim = 96, 18, (500 if args.quick else 3803), 10, 512
    rng = np.random.default_rng(args.seed)
    centres = rng.standard_normal((num_ids, dim)).astype(np.float32)
    results = []
    for pid in range(num_ids):
        for cam in (0, 1, 3, 4):
            for k in range(per_group):
                results.append(dict(pid=pid, camid=cam, modality='visible', split_role='gallery',
                                    img_path=f'/sysu/cam{cam + 1}/{pid:04d}/{k:04d}.jpg'))
    q_pids = rng.integers(0, num_ids, num_q)
    for i, pid in enumerate(q_pids):
        results.append(dict(pid=int(pid), camid=int(rng.choice([2, 5])), modality='infrared', split_role='query',
                            img_path=f'/sysu/ir/{i}.jpg'))
    feats = centres[[r['pid'] for r in results]] + 3.0 * rng.standard_normal((len(results), dim), dtype=np.float32)
    feats /= np.linalg.norm(feats, axis=1, keepdims=True)
    for i, r in enumerate(results):
        r.update(feature=torch.from_numpy(feats[i]), sample_idx=i)

    visible = [i for i, r in enumerate(results) if r['modality'] == 'visible']
    query = [i for i, r in enumerate(results) if r['modality'] == 'infrared']
    cand = dict(feats=feats[visible], pids=np.array([results[i]['pid'] for i in visible]),
                cams=np.array([results[i]['camid'] for i in visible]), by_key={})
    for j, i in enumerate(visible):  # candidates are already in path order within a group
        cand['by_key'].setdefault((results[i]['pid'], results[i]['camid']), []).append(j)
    q_cams = np.array([results[i]['camid'] for i in query])

    t_official, official = best_time(lambda: official_sysu_loop(feats[query], q_pids, q_cams, cand, trials, 'all'), 1)
    metric = ReIDMetric(protocol='sysu_mm01', trials=trials, dist='cosine')
    t_plugin, plugin = best_time(lambda: metric.compute_metrics(results), 3)
    sel0 = select_sysu_gallery(cand['pids'], cand['cams'], [results[i]['img_path'] for i in visible], 0)
    sec = Section(f'SYSU-MM01 all-search, {trials} trials ({num_q} infrared queries, {len(visible)} visible '
                  f'candidates, {len(sel0)} gallery images per trial, 512-d)', ['evaluator', 'seconds', 'ratio'])
    sec.rows += [['official-style python loop (draw + numpy distance + per-query loop)', fmt(t_official), '1.00'],
                 ['plugin `ReIDMetric(protocol="sysu_mm01")`', fmt(t_plugin), f'**{t_official / t_plugin:.1f} x '
                                                                              'faster**']]
    diffs = [abs(plugin['R1'] - official[0][0] * 100), abs(plugin['R10'] - official[0][9] * 100),
             abs(plugin['mAP'] - official[1] * 100), abs(plugin['mINP'] - official[2] * 100)]
    sec.notes.append('parity (percent points): |dR1|, |dR10|, |dmAP|, |dmINP| = '
                     + ', '.join(f'{d:.1e}' for d in diffs)
                     + f'; plugin R1 = {plugin["R1"]:.2f}%, mAP = {plugin["mAP"]:.2f}%. The loop computes its '
                     'distances with numpy, the plugin with torch: float32 rounding can swap two nearly equal '
                     'distances, which moves mAP / mINP by about 1e-6 points; the ranking rules are tested for '
                     'exact equality in tests/core/evaluation.')
    return sec


def _resident_bytes():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')


def _large_gallery_child(num_q, num_g, dim):
    """Runs in a fresh process; a sampling thread records the resident memory while evaluating."""
    import threading
    qf, gf, q_pids, g_pids, q_cams, g_cams = synthetic_reid(num_q, num_g, 5000, 8, dim)
    base = peak = _resident_bytes()
    done = threading.Event()

    def sample():
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _resident_bytes())
            time.sleep(0.002)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    cmc, mAP, _ = evaluate_features(qf, gf, q_pids, g_pids, q_cams, g_cams)
    elapsed = time.perf_counter() - start
    done.set()
    sampler.join()
    peak = max(peak, _resident_bytes())
    print(f'RESULT {elapsed:.3f} {peak / 2**30:.3f} {base / 2**30:.3f} {cmc[0]:.4f} {mAP:.4f}')


@section('large')
def large_gallery_section(args):
    """A gallery far larger than Market's, evaluated with the fused chunked path; peak memory of the process."""
    num_q, num_g, dim = (300, 20000, 512) if args.quick else (3000, 100000, 512)
    out = subprocess.run([sys.executable, osp.abspath(__file__), '--large-child', str(num_q), str(num_g), str(dim)],
                         capture_output=True, text=True, check=True).stdout
    elapsed, peak, base, r1, mAP = (float(x) for x in out.split('RESULT')[1].split())
    sec = Section(f'Large gallery ({num_q} queries x {num_g} gallery, 512-d, fused distance + ranking)',
                  ['measure', 'value'])
    sec.rows += [['evaluation seconds', fmt(elapsed)],
                 ['peak resident memory while evaluating (GiB, sampled every 2 ms)', f'{peak:.2f}'],
                 ['resident before evaluating: interpreter, torch, features (GiB)', f'{base:.2f}'],
                 ['**added by the evaluation (GiB)**', f'{peak - base:.2f}']]
    sec.notes.append(f'R1 = {r1 * 100:.2f}%, mAP = {mAP * 100:.2f}% (synthetic, 5000 ids).')
    return sec


# ------------------------------------------------------------------------------------------ training step
@dataclass
class TrainCase:
    """One published config whose training step is timed against its encoders' forward + backward.

    Args:
        label (str): method name in the tables.
        config (str): published config (pre-trained weights are switched off; random init costs the same).
        reference (str): what the reference pass runs, in words.
        target (float): the issue's bound on ``step / reference``.
    """
    label: str
    config: str
    reference: str
    target: float = 1.3


TRAIN_CASES = (
    TrainCase('ReID baseline (BoT)', 'configs/baseline_market1501.py', 'ResNet-50 on the images'),
    TrainCase('CAL', 'configs/cal_sysu.py', 'two-stream ResNet-50 on the images'),
    TrainCase('CASN (PCB, Grad-CAM)', 'configs/casn_pcb_market1501.py', 'ResNet-50 on the images', 2.5),
    TrainCase('IRRA', 'configs/irra_cuhkpedes.py',
              'CLIP image tower on the images, text tower on the captions and the masked captions'),
    TrainCase('SSAN', 'configs/ssan_cuhkpedes.py',
              'ResNet-50 on the images, BiLSTM encoder on the captions and the weak captions'),
    TrainCase('AXM-Net', 'configs/axmnet_cuhkpedes.py',
              'ResNet-50 (4 stages, last stride 1) on the images, word-conv stem on the captions'),
)

#: model type -> function(model, inputs, data_samples) returning the reference pass's output tensors
REFERENCE_PASSES = {}


def reference_pass(*model_types):
    def register(fn):
        for name in model_types:
            REFERENCE_PASSES[name] = fn
        return fn
    return register


def _last(out):
    return out[-1] if isinstance(out, (tuple, list)) else out


@reference_pass('ReIDBaseline', 'CASN')
def _image_backbone(model, inputs, samples):
    return [_last(model.backbone(inputs['img']))]


@reference_pass('CAL')
def _two_stream_backbone(model, inputs, samples):
    from plugins.cal.model import modality_mask
    img = inputs['img']
    return [model.backbone(img, modality_mask(samples, img.size(0), img.device))]


@reference_pass('IRRA')
def _clip_towers(model, inputs, samples):
    clip = model.clip
    image = clip.vision_model(pixel_values=inputs['img'], interpolate_pos_encoding=True).last_hidden_state
    return [image] + [clip.text_model(input_ids=inputs[key]).last_hidden_state
                      for key in ('text', 'mlm_text') if key in inputs]


@reference_pass('SSAN')
def _resnet_and_bilstm(model, inputs, samples):
    outs = [_last(model.backbone(inputs['img']))]
    for key in ('text', 'weak_text'):
        outs += list(model.text_encoder(inputs[key], inputs.get(f'{key}_mask'))[:2])
    return outs


@reference_pass('AXMNet')
def _axm_stages_1_3(model, inputs, samples):
    return [_last(model.backbone(inputs['img'])), model.text_stem(inputs['text'])[0]]


def _drop_pretrained(node):
    """Random init instead of downloads: ``init_cfg=dict(type='Pretrained')`` -> None, ``pretrained=...`` ->
    None, recursively (IRRA's ``clip`` then builds from its ``config`` preset)."""
    if isinstance(node, dict):
        init = node.get('init_cfg')
        if isinstance(init, dict) and init.get('type') == 'Pretrained':
            node['init_cfg'] = None
        if node.get('pretrained') not in (None, False):
            node['pretrained'] = None
        for value in node.values():
            _drop_pretrained(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            _drop_pretrained(value)


def demo_data_root(args, name):
    """``<demo-root>/<name>``, generated in the real layout when missing (:mod:`plugins.core.datasets.demo`)."""
    from plugins.core.datasets.demo import make_demo_data
    make_demo_data(args.demo_root, [name], verbose=False)
    return osp.join(args.demo_root, name)


def case_config(args, case, batch_size, num_workers, work_dir):
    """The published config of ``case`` on the demo data, with the given loader settings."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from plugins.core.utils import prepare_config
    cfg = Config.fromfile(osp.join(REPO, case.config))
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    cfg.work_dir = work_dir
    loader = cfg.train_dataloader
    loader.dataset.data_root = demo_data_root(args, osp.basename(loader.dataset.data_root.rstrip('/')))
    loader.update(batch_size=batch_size, num_workers=num_workers, persistent_workers=num_workers > 0)
    if 'batch_size' in loader.sampler:
        loader.sampler.batch_size = batch_size
    if 'num_instances' in loader.sampler and batch_size < 16:
        loader.sampler.num_instances = 2  # keeps several identities in a small timing batch
    _drop_pretrained(cfg.model)
    return prepare_config(cfg)  # builds the word vocabulary of SSAN / AXM-Net into work_dir


class MatchDistillTimer:
    """Times ``MatchDistillHook``'s callbacks and the Hungarian matching it installs in CAL's loss."""

    def __init__(self, model):
        from types import SimpleNamespace
        from plugins.cal.hooks import MatchDistillHook
        self.hook = MatchDistillHook(kd_begin_epoch=0, count_begin_epoch=0)
        self.runner = SimpleNamespace(model=model, epoch=0, max_epochs=100, logger=None)
        self.hook.before_run(self.runner)
        self.seconds = 0.0
        matcher = model.part_matcher

        def timed_matcher(weights):
            start = time.perf_counter()
            out = matcher(weights)
            self.seconds += time.perf_counter() - start
            return out
        model.part_matcher = timed_matcher

    def wrap(self, step):
        def hooked_step():
            start = time.perf_counter()
            self.hook.before_train_iter(self.runner, 0)
            middle = time.perf_counter()
            out = step()
            end = time.perf_counter()
            self.hook.after_train_iter(self.runner, 0)
            self.seconds += (middle - start) + (time.perf_counter() - end)
            return out
        return hooked_step


def _time_case(args, case, batch_size, repeats, work_dir, device='cpu', amp=False):
    """Seconds of one training step and of the reference pass(es) (best of ``repeats`` after a warm-up), and
    the MatchDistill seconds per step (None for other methods).

    Args:
        device (str): ``'cpu'`` or ``'cuda'``.
        amp (bool): float16 autocast + loss scaling (mmengine ``AmpOptimWrapper``; CUDA only).
    """
    from mmengine.optim import build_optim_wrapper
    from mmengine.runner import Runner
    from mmpretrain.registry import MODELS
    cfg = case_config(args, case, batch_size, 0, work_dir)
    if args.quick:  # half-size inputs keep --quick under 2 minutes; the full run uses the published size
        _halve_input_size(cfg.train_dataloader.dataset.pipeline)
    if amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
    torch.manual_seed(args.seed)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.to(device).train()
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    batch = next(iter(Runner.build_dataloader(cfg.train_dataloader, seed=args.seed)))
    passes = {'reference': REFERENCE_PASSES[type(model).__name__]}
    if type(model).__name__ == 'AXMNet':
        # AXM-Net keeps ResNet-50's stages 1-3 and puts its AXM-blocks where stage 4 was: the network it is
        # derived from is the whole ResNet-50
        resnet50 = MODELS.build(dict(type='ResNet', depth=50, strides=(1, 2, 2, 1), out_indices=(3, ))).to(device)
        resnet50.train()  # mmpretrain's ResNet.train() returns None
        passes = {'reference': lambda m, inputs, samples: [resnet50(inputs['img'])[-1],
                                                           m.text_stem(inputs['text'])[0]],
                  'stages 1-3': _axm_stages_1_3}
    match_distill = MatchDistillTimer(model) if hasattr(model, 'part_matching') else None

    def step():
        return model.train_step(batch, optim_wrapper)
    if match_distill is not None:
        step = match_distill.wrap(step)

    def forward_backward(fn):
        def run():
            data = model.data_preprocessor(batch, True)
            with torch.autocast(device_type=device, dtype=torch.float16, enabled=amp):
                outs = fn(model, data['inputs'], data['data_samples'])
                total = sum(out.float().mean() for out in outs)
            total.backward()
            model.zero_grad(set_to_none=True)
        return run

    sync = torch.cuda.synchronize if device == 'cuda' else (lambda: None)
    timed = {'step': step, **{name: forward_backward(fn) for name, fn in passes.items()}}
    best = {name: float('inf') for name in timed}
    for round_ in range(repeats + 1):  # round 0 warms up (allocations, oneDNN / cuDNN primitives)
        if match_distill is not None and round_ == 1:
            match_distill.seconds = 0.0
        for name, fn in timed.items():
            sync()
            start = time.perf_counter()
            fn()
            sync()
            if round_:
                best[name] = min(best[name], time.perf_counter() - start)
    hook_seconds = match_distill.seconds / repeats if match_distill is not None else None
    return best, hook_seconds


def _halve_input_size(pipeline):
    for transform in pipeline:
        for key in ('scale', 'crop_size'):
            if key in transform:
                transform[key] = tuple(v // 2 for v in transform[key])


#: images per second of each case's training step (filled by the train section, read by the loader section)
STEP_THROUGHPUT = {}


@section('train')
def train_section(args):
    """Each method's training step (forward, losses, backward, optimizer) / its encoders' forward + backward."""
    import tempfile
    batch_size, repeats = (4, 1) if args.quick else (16, 3)
    size = 'half the published input size' if args.quick else 'the published input size'
    sec = Section(f'Training step per method (batch {batch_size}, {size}, published model and optimizer, '
                  f'random init)', ['method', 'reference pass (forward + backward)', 'reference s', 'step s',
                                    'step / reference', 'target'])
    for case in TRAIN_CASES:
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as work_dir:
            best, hook_seconds = _time_case(args, case, batch_size, repeats, work_dir)
        print(f'   {case.label}: {time.perf_counter() - start:.0f} s', flush=True)
        STEP_THROUGHPUT[case.config] = batch_size / best['step']
        ratio = best['step'] / best['reference']
        sec.rows.append([case.label, case.reference, fmt(best['reference']), fmt(best['step']),
                         f'**{ratio:.2f}**', f'<= {case.target}'])
        if 'stages 1-3' in best:
            sec.rows.append([f'{case.label} (vs its own stages)', 'ResNet-50 stages 1-3 on the images, '
                             'word-conv stem on the captions', fmt(best['stages 1-3']), fmt(best['step']),
                             f'{best["step"] / best["stages 1-3"]:.2f}', ''])
        if hook_seconds is not None:
            sec.notes.append(f'{case.label}: `MatchDistillHook` (its callbacks + the Hungarian matching it '
                             f'installs) {hook_seconds * 1e3:.1f} ms per step = '
                             f'**{100 * hook_seconds / best["step"]:.2f}%** of the step (target <= 2%).')
        gc.collect()
    sec.notes += [
        'step = `model.train_step` (data preprocessor, forward, every loss, backward, optimizer update) on one '
        'batch of the demo data through the published training pipeline; the reference pass runs the '
        'encoders named in the table forward and backward on every input of the same batch.',
        'AXM-Net: its AXM-blocks replace ResNet-50\'s stage 4, so the reference is the whole ResNet-50; '
        'the second row compares with the stages it keeps.',
        f'times are the best of {repeats} run(s) after one warm-up run.',
    ]
    if args.quick:
        sec.notes.append('--quick: small batch and half-size inputs make the heads a larger share of the step than '
                         'in training; the targets are for the published setting (full run, docs/benchmark.md).')
    return sec


@section('loader')
def loader_section(args):
    """Images per second the published training pipelines deliver with 2 workers (demo images, real layouts)."""
    import tempfile
    from mmengine.runner import Runner
    batches = 3 if args.quick else 10
    sec = Section(f'Training data loader, 2 workers ({batches} batches after the first)',
                  ['config', 'batch', 'images / s (2 workers)', 'model step images / s', 'loader / model'])
    for case in TRAIN_CASES:
        with tempfile.TemporaryDirectory() as work_dir:
            cfg = case_config(args, case, 32 if args.quick else 64, 2, work_dir)
            loader = Runner.build_dataloader(cfg.train_dataloader, seed=args.seed)
            batches_done, images, seconds = 0, 0, 0.0
            iterator = iter(loader)
            next(iterator)  # worker start-up
            while batches_done < batches:
                start = time.perf_counter()
                try:
                    batch = next(iterator)
                except StopIteration:  # a small demo epoch: the persistent workers start the next one
                    iterator = iter(loader)
                    continue
                seconds += time.perf_counter() - start
                images += len(batch['data_samples'])
                batches_done += 1
            del iterator, loader
        rate = images / seconds
        model_rate = STEP_THROUGHPUT.get(case.config)
        sec.rows.append([f'{case.label} (`{osp.basename(case.config)}`)', cfg.train_dataloader.batch_size,
                         f'{rate:.0f}', f'{model_rate:.1f}' if model_rate else 'not run',
                         f'{rate / model_rate:.0f} x' if model_rate else ''])
    sec.notes.append('the model column is this machine\'s training step (section train, CPU); on a GPU the step '
                     'is far faster: compare its images / s with the loader column.')
    return sec


@section('gpu')
def gpu_section(args):
    """On a CUDA device: each method's step and reference pass in float32 and with AMP; evaluation on the GPU."""
    import tempfile
    if not torch.cuda.is_available():
        sec = Section('GPU: training step in float32 and with AMP, evaluation on the GPU', ['status'])
        sec.rows.append(['not run: no CUDA device on this machine (`python tools/benchmark.py --sections gpu` '
                         'on a GPU machine fills this table)'])
        return sec
    batch_size, repeats = (16, 2) if args.quick else (64, 3)
    sec = Section(f'GPU ({torch.cuda.get_device_name(0)}): training step, batch {batch_size}, published input size',
                  ['method', 'reference s (fp32)', 'step s (fp32)', 'step / reference (fp32)', 'reference s (AMP)',
                   'step s (AMP)', 'step / reference (AMP)', 'AMP speed-up of the step'])
    saved_quick, args.quick = args.quick, False  # the published input size on a GPU
    try:
        for case in TRAIN_CASES:
            runs = {}
            for amp in (False, True):
                with tempfile.TemporaryDirectory() as work_dir:
                    runs[amp] = _time_case(args, case, batch_size, repeats, work_dir, device='cuda', amp=amp)[0]
                torch.cuda.empty_cache()
            fp32, half = runs[False], runs[True]
            sec.rows.append([case.label, fmt(fp32['reference']), fmt(fp32['step']),
                             f'{fp32["step"] / fp32["reference"]:.2f}', fmt(half['reference']), fmt(half['step']),
                             f'**{half["step"] / half["reference"]:.2f}**', f'{fp32["step"] / half["step"]:.2f} x'])
    finally:
        args.quick = saved_quick
    qf, gf, q_pids, g_pids, q_cams, g_cams = synthetic_reid(3368, 15913, 751, 6, 512, seed=args.seed)
    t_cpu, on_cpu = best_time(lambda: evaluate_features(qf, gf, q_pids, g_pids, q_cams, g_cams), 2)
    qf_gpu, gf_gpu = qf.cuda(), gf.cuda()

    def on_gpu():
        out = evaluate_features(qf_gpu, gf_gpu, q_pids, g_pids, q_cams, g_cams)
        torch.cuda.synchronize()
        return out
    on_gpu()
    t_gpu, gpu_result = best_time(on_gpu, 3)
    sec.notes += [
        f'Market-sized evaluation (3368 x 15913, fused distance + ranking): GPU {fmt(t_gpu)} s, CPU {fmt(t_cpu)} s '
        f'({t_cpu / t_gpu:.1f} x); max |dCMC| = {float(np.abs(on_cpu[0] - gpu_result[0]).max()):.1e}, '
        f'|dmAP| = {abs(on_cpu[1] - gpu_result[1]):.1e}.',
        'AMP = mmengine AmpOptimWrapper (float16 autocast, dynamic loss scaling); the reference pass runs under '
        'the same autocast.',
    ]
    return sec


def machine_description():
    cpu = platform.processor() or 'unknown CPU'
    try:
        with open('/proc/cpuinfo') as f:
            cpu = next(line.split(':', 1)[1].strip() for line in f if line.startswith('model name'))
    except (OSError, StopIteration):
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no GPU'
    return (f'{cpu}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads), '
            f'numpy {np.__version__}, {gpu}')


def load_average():
    try:
        return os.getloadavg()[0]
    except OSError:
        return float('nan')


def parse_args():
    parser = argparse.ArgumentParser(description='Benchmarks of the ReID plugin (Markdown report).')
    parser.add_argument('--quick', action='store_true', help='smaller sizes; ends in under 2 minutes on 2 cores')
    parser.add_argument('--sections', nargs='+', default=None, help=f'subset of {list(SECTIONS)}')
    parser.add_argument('--out', default=None,
                        help='Markdown file to write ("" to skip); default docs/benchmark.md, '
                        'docs/benchmark_quick.md with --quick')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--rank-cy', default=None,
                        help="torchreid's rank_cy.pyx to build with Cython and time (deep-person-reid checkout)")
    parser.add_argument('--demo-root', default=osp.join(REPO, 'data', 'demo'),
                        help='demo data sets for the train / loader sections (generated when missing)')
    parser.add_argument('--note', default='', help='free text written under the machine line')
    parser.add_argument('--large-child', nargs=3, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.out is None:
        args.out = 'docs/benchmark_quick.md' if args.quick else 'docs/benchmark.md'
    return args


def main():
    args = parse_args()
    if args.large_child:
        _large_gallery_child(*args.large_child)
        return
    names = args.sections or list(SECTIONS)
    unknown = sorted(set(names) - set(SECTIONS))
    if unknown:
        raise SystemExit(f'benchmark: unknown sections {unknown}; available: {list(SECTIONS)}')
    from mmengine.logging import MMLogger
    MMLogger.get_instance('mmengine').setLevel('WARNING')  # no per-parameter init report for every built model
    load_before, start = load_average(), time.perf_counter()
    tables = []
    for name in names:
        print(f'== {name} ...', flush=True)
        table = SECTIONS[name](args).markdown()
        print(table, flush=True)
        tables.append(table)
    load_after = load_average()
    header = [
        '# Benchmarks', '',
        f'Generated by `python tools/benchmark.py{" --quick" if args.quick else ""}` on '
        f'{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC in {time.perf_counter() - start:.0f} s.',
        '', f'Machine: {machine_description()}.',
        f'1-minute load average {load_before:.1f} before and {load_after:.1f} after the run.', '']
    if args.note:
        header += [args.note, '']
    report = '\n'.join(header) + '\n' + '\n'.join(tables)
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            f.write(report)
        print(f'written to {args.out}')


if __name__ == '__main__':
    main()
