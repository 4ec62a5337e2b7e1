"""Naive per-query reference implementations (written from the papers' / official codes' definitions)."""
import random

import numpy as np


def naive_rank(distmat, q_pids, g_pids, q_camids, g_camids, max_rank, sysu=False, kind='quicksort'):
    """One python loop per query; returns (cmc, mAP, mINP).

    ``sysu=False``: torchreid's Market rule (drop same pid and same camera). ``sysu=True``: the official
    SYSU-MM01 rule with 1-based cameras (query cam 3 drops gallery cam 2) and identity-unique CMC.
    """
    order_all = np.argsort(distmat, axis=1, kind=kind)
    cmcs, aps, inps = [], [], []
    for i in range(len(q_pids)):
        order = order_all[i]
        if sysu:
            keep = ~((q_camids[i] == 3) & (g_camids[order] == 2))
        else:
            keep = ~((g_pids[order] == q_pids[i]) & (g_camids[order] == q_camids[i]))
        ranked = g_pids[order][keep]
        hits = ranked == q_pids[i]
        if not hits.any():
            continue
        if sysu:
            seen = []
            for pid in ranked:
                if pid not in seen:
                    seen.append(pid)
            first = seen.index(q_pids[i]) + 1
        else:
            first = int(np.argmax(hits)) + 1
        cmcs.append([1.0 if k + 1 >= first else 0.0 for k in range(max_rank)])
        precisions, found = [], 0
        for rank, h in enumerate(hits, start=1):
            if h:
                found += 1
                precisions.append(found / rank)
        aps.append(sum(precisions) / found)
        last = max(rank for rank, h in enumerate(hits, start=1) if h)
        inps.append(found / last)
    return np.mean(np.asarray(cmcs), axis=0), float(np.mean(aps)), float(np.mean(inps))


def official_sysu_gallery(samples, trial, cameras, shots=1):
    """``process_gallery_sysu`` of the official code on a list of dicts (1-based camera numbers)."""
    random.seed(trial)
    np.random.seed(trial)
    chosen = []
    for pid in sorted({s['pid'] for s in samples}):
        for cam in cameras:
            files = sorted(s['img_path'] for s in samples if s['pid'] == pid and s['camid'] + 1 == cam)
            if not files:
                continue
            if shots == 1:
                chosen.append(random.choice(files))
            else:
                chosen.extend(np.random.choice(files, shots, replace=False).tolist())
    return chosen
