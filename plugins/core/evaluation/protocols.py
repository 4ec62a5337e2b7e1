"""Evaluation protocols: which test samples query which gallery, and under which removal rules.

A protocol turns the records that ``ReIDMetric`` collected (one dict per test sample with ``pid``, ``camid``,
``modality``, ``img_path``, ``split_role``) into one or more :class:`RankingProblem` s. The metric ranks them
and averages; ``tools/visualize_ranking.py`` draws exactly the same problems, so a picture shows what was scored.

Protocols are registered in :data:`REID_PROTOCOLS` and built from ``ReIDMetric(protocol=...)`` (a short name
such as ``'sysu_mm01'`` with the metric's protocol options, or a config dict with ``type``).
"""
import inspect
import random
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from mmengine.registry import Registry

from ..datasets.llcm import LLCM_INFRARED_CAMERAS, LLCM_VISIBLE_CAMERAS
from ..datasets.sysu_cameras import SYSU_GALLERY_CAMS, SYSU_QUERY_CAMS

#: Registry of the evaluation protocols (``REID_PROTOCOLS.build(dict(type='SYSUMM01Protocol', trials=10))``).
REID_PROTOCOLS = Registry('reid evaluation protocol')


@dataclass
class RankingProblem:
    """One query set against one gallery.

    Attributes:
        query (np.ndarray): positions of the query records, shape (Q,).
        gallery (np.ndarray): positions of the gallery records, shape (G,).
        q_camids (np.ndarray): camera ids the removal rules see for the queries, shape (Q,).
        g_camids (np.ndarray): the same for the gallery, shape (G,).
        rules (str): removal rules of :mod:`.rank` (``'market'`` or ``'sysu_mm01'``).
        name (str): e.g. ``'trial 3'`` where a protocol averages several problems.
    """
    query: np.ndarray
    gallery: np.ndarray
    q_camids: np.ndarray
    g_camids: np.ndarray
    rules: str = 'market'
    name: str = ''


def _column(records, key, dtype=object):
    return np.array([r[key] for r in records], dtype=dtype)


def self_image_ids(records):
    """One integer per record standing in for its camera when there are none: records of the same ``img_path``
    share it, every other record has its own. Under the Market rule (same pid and same "camera" removed) a
    query then loses exactly the gallery copies of its own image, shape (N,)."""
    ids, seen = np.empty(len(records), np.int64), {}
    for i, record in enumerate(records):
        path = record.get('img_path')
        ids[i] = seen.setdefault(path, len(seen)) if path is not None else len(records) + i
    return ids


def check_sides(protocol, query, gallery, expect, records):
    """Raise a ValueError that says what the protocol expected when the query or the gallery is empty."""
    for side, idx in (('query', query), ('gallery', gallery)):
        if len(idx) == 0:
            seen = sorted({(r.get('split_role'), r.get('modality')) for r in records}, key=str)
            raise ValueError(f"ReIDMetric(protocol='{protocol}'): no {side} samples; expected {expect}. "
                             f'Got {len(records)} samples with (split_role, modality) in {seen}')


def cross_modal_problem(query, gallery, name=''):
    """Query and gallery never share a camera in a cross-modal search, so nothing is removed."""
    return RankingProblem(query, gallery, np.zeros(len(query), np.int64), np.ones(len(gallery), np.int64),
                          name=name)


class ReIDProtocol:
    """Base class: ``split(records) -> list[RankingProblem]``; ``name`` is the short name used in configs."""
    name = ''
    #: distance used when ``ReIDMetric(dist=None)``
    default_dist = 'euclidean'
    #: removal rules of the problems it makes (:mod:`.rank`)
    rules = 'market'

    def split(self, records):
        raise NotImplementedError(f'{type(self).__name__} must implement split(records)')

    def describe(self):
        """Extra words for the metric's log line (e.g. ``', 10 trials, all, 1-shot'``)."""
        return ''


@REID_PROTOCOLS.register_module()
class MarketProtocol(ReIDProtocol):
    """Market-1501 / DukeMTMC-reID / CUHK03 / torchreid image sets: ``split_role`` decides query and gallery;
    gallery items with the query's pid and camera are removed; junk ids (pid < 0) take no part.

    Data without camera ids (every ``camid`` is -1, e.g. :class:`~plugins.core.datasets.custom.CustomReIDDataset`
    without cameras): only the query image itself (the same ``img_path``) is removed from its gallery. Market's
    same-camera rule removes the easy matches, shot by the query's own camera moments apart; without cameras that
    rule cannot be applied, and removing every same-id item would leave nothing to find, so the scores of such
    data are optimistic next to Market-style numbers (the same camera's near-duplicates stay in the gallery).
    Some queries / gallery items with and some without a camera is an error naming the first of them.
    """
    name = 'market'

    def split(self, records):
        roles, pids = _column(records, 'split_role'), _column(records, 'pid', np.int64)
        camids = _column(records, 'camid', np.int64)
        valid = pids >= 0
        query = np.flatnonzero((roles == 'query') & valid)
        gallery = np.flatnonzero((roles == 'gallery') & valid)
        check_sides(self.name, query, gallery, "samples with split_role='query' and split_role='gallery' "
                                               '(and pid >= 0)', records)
        used = np.concatenate([query, gallery])
        without = np.sort(used[camids[used] < 0])
        if len(without) == 0:
            return [RankingProblem(query, gallery, camids[query], camids[gallery])]
        if len(without) < len(used):
            names = [str(records[i].get('img_path') or f'sample {i}') for i in without[:5]]
            raise ValueError(f"ReIDMetric(protocol='market'): {len(without)} of {len(used)} query/gallery samples "
                             f"have no camera id (camid -1) and the others have one, e.g. {', '.join(names)}; "
                             'give every sample a camera or none (then only the query image itself is removed)')
        image_ids = self_image_ids(records)
        return [RankingProblem(query, gallery, image_ids[query], image_ids[gallery])]


@REID_PROTOCOLS.register_module()
class RegDBProtocol(ReIDProtocol):
    """RegDB: visible and thermal (``modality='infrared'``) test images of one split, no camera filtering.

    Args:
        direction (str): ``'v2t'`` (visible queries, thermal gallery) or ``'t2v'``.
    """
    name = 'regdb'

    def __init__(self, direction='v2t'):
        if direction not in ('v2t', 't2v'):
            raise ValueError(f"RegDBProtocol: direction must be 'v2t' or 't2v', got {direction!r}")
        self.direction = direction

    def split(self, records):
        modality = _column(records, 'modality')
        q_mod, g_mod = ('visible', 'infrared') if self.direction == 'v2t' else ('infrared', 'visible')
        query, gallery = np.flatnonzero(modality == q_mod), np.flatnonzero(modality == g_mod)
        check_sides(self.name, query, gallery, f"modality='{q_mod}' queries and modality='{g_mod}' gallery "
                                               f"samples (direction='{self.direction}')", records)
        return [cross_modal_problem(query, gallery)]

    def describe(self):
        return f', {self.direction}'


@REID_PROTOCOLS.register_module()
class TextImageProtocol(ReIDProtocol):
    """Text-to-image: every caption (``modality='text'``) queries every test image; cosine by default."""
    name = 'text_image'
    default_dist = 'cosine'

    def split(self, records):
        modality = _column(records, 'modality')
        query, gallery = np.flatnonzero(modality == 'text'), np.flatnonzero(modality != 'text')
        check_sides(self.name, query, gallery, "modality='text' queries (captions) and image gallery samples",
                    records)
        return [cross_modal_problem(query, gallery)]


@REID_PROTOCOLS.register_module()
class SYSUMM01Protocol(ReIDProtocol):
    """SYSU-MM01 official evaluation: every infrared image of cameras 3 and 6 queries; each trial draws the
    visible gallery of the search mode's cameras as the official code does; official SYSU removal rules.

    Args:
        search_mode (str): ``'all'`` (cameras 1, 2, 4, 5) or ``'indoor'`` (cameras 1, 2).
        shots (int): gallery images per (id, camera): 1 (single-shot) or 10 (multi-shot).
        trials (int): gallery draws (trial seeds 0 .. trials-1), one problem each.
    """
    name = 'sysu_mm01'
    rules = 'sysu_mm01'

    def __init__(self, search_mode='all', shots=1, trials=10):
        if search_mode not in SYSU_GALLERY_CAMS:
            raise ValueError(f'SYSUMM01Protocol: search_mode must be one of {tuple(SYSU_GALLERY_CAMS)}, '
                             f'got {search_mode!r}')
        if int(shots) < 1 or int(trials) < 1:
            raise ValueError(f'SYSUMM01Protocol: shots and trials must be >= 1, got shots={shots}, trials={trials}')
        self.search_mode, self.shots, self.trials = search_mode, int(shots), int(trials)

    def candidates(self, records):
        """Query positions and the visible gallery candidates (before any draw)."""
        modality, camids = _column(records, 'modality'), _column(records, 'camid', np.int64)
        query = np.flatnonzero((modality == 'infrared') & np.isin(camids, SYSU_QUERY_CAMS))
        cand = np.flatnonzero((modality == 'visible') & np.isin(camids, SYSU_GALLERY_CAMS[self.search_mode]))
        cams = [c + 1 for c in SYSU_GALLERY_CAMS[self.search_mode]]
        check_sides(self.name, query, cand, "modality='infrared' queries of cameras 3/6 (camid 2/5) and "
                                            f"modality='visible' gallery candidates of cameras {cams}", records)
        return query, cand

    def split(self, records):
        pids, camids = _column(records, 'pid', np.int64), _column(records, 'camid', np.int64)
        query, cand = self.candidates(records)
        groups = sysu_gallery_groups(pids[cand], camids[cand], [records[i].get('img_path') for i in cand],
                                     self.search_mode)
        problems = []
        for trial in range(self.trials):
            gallery = cand[draw_sysu_gallery(groups, trial, self.shots)]
            problems.append(RankingProblem(query, gallery, camids[query], camids[gallery], rules=self.rules,
                                           name=f'trial {trial}'))
        return problems

    def describe(self):
        return f', {self.trials} trials, {self.search_mode}, {self.shots}-shot'


#: LLCM cameras of the authors' test lists, 0-based: modality -> camids in the authors' order
LLCM_CAMS = {'visible': tuple(c - 1 for c in LLCM_VISIBLE_CAMERAS),
             'infrared': tuple(c - 1 for c in LLCM_INFRARED_CAMERAS)}


@REID_PROTOCOLS.register_module()
class LLCMProtocol(ReIDProtocol):
    """LLCM official evaluation (the authors' ``DEEN/test.py``, ``data_manager.py``, ``eval_metrics.py``).

    The test images of ``test_nir`` cameras 1, 2, 4-9 and ``test_vis`` cameras 1-9. Each of ``trials`` draws
    (trial seeds 0 .. trials-1) takes one image per (id, camera) of the drawn modality exactly as
    ``process_gallery_llcm``: ``random.seed(trial)``, ids ascending, cameras in the authors' order, one
    ``random.choice`` among the sorted files of each ``cam<k>/<pid>/`` folder (the SYSU-MM01 single-shot draw,
    :func:`draw_sysu_gallery`). Ranking: ``eval_llcm`` (rules ``'llcm'``: an item of the query's identity *and*
    camera number is removed, CMC counts each identity once); the trials' CMC, mAP and mINP are averaged.

    Args:
        direction (str): ``'ir2vis'`` (``test_mode = [1, 2]``, the authors' default): every infrared image
            queries a drawn visible gallery. ``'vis2ir'`` (``test_mode = [2, 1]``): one infrared image per
            (id, camera) is drawn per trial and, as ``test.py`` evaluates this mode (distances transposed, then
            ``eval_llcm(-distmat, gall_label, query_label, gall_cam, query_cam)``), the drawn infrared images
            are the ranked lists over every visible test image. This is what the authors' published
            "VIS to IR" numbers measure, so it is kept as is.
        trials (int): number of draws averaged (the authors': 10).
    """
    name = 'llcm'
    rules = 'llcm'
    DIRECTIONS = ('ir2vis', 'vis2ir')

    def __init__(self, direction='ir2vis', trials=10):
        if direction not in self.DIRECTIONS:
            raise ValueError(f'LLCMProtocol: direction must be one of {self.DIRECTIONS}, got {direction!r}')
        if int(trials) < 1:
            raise ValueError(f'LLCMProtocol: trials must be >= 1, got {trials}')
        self.direction, self.trials = direction, int(trials)

    def candidates(self, records):
        """Positions of the infrared and the visible test images of the authors' cameras."""
        modality, camids = _column(records, 'modality'), _column(records, 'camid', np.int64)
        side = {m: np.flatnonzero((modality == m) & np.isin(camids, cams)) for m, cams in LLCM_CAMS.items()}
        check_sides(self.name, side['infrared'], side['visible'],
                    "modality='infrared' images of cameras 1, 2, 4-9 (camid 0, 1, 3-8) and modality='visible' "
                    'images of cameras 1-9 (camid 0-8)', records)
        return side['infrared'], side['visible']

    def split(self, records):
        pids, camids = _column(records, 'pid', np.int64), _column(records, 'camid', np.int64)
        infrared, visible = self.candidates(records)
        fixed, drawn_side, cams = ((infrared, visible, LLCM_CAMS['visible']) if self.direction == 'ir2vis'
                                   else (visible, infrared, LLCM_CAMS['infrared']))
        groups = camera_groups(pids[drawn_side], camids[drawn_side],
                               [records[i].get('img_path') for i in drawn_side], cams)
        problems = []
        for trial in range(self.trials):
            drawn = drawn_side[draw_sysu_gallery(groups, trial)]
            query, gallery = (fixed, drawn) if self.direction == 'ir2vis' else (drawn, fixed)
            problems.append(RankingProblem(query, gallery, camids[query], camids[gallery], rules=self.rules,
                                           name=f'trial {trial}'))
        return problems

    def describe(self):
        return f', {self.direction}, {self.trials} trials'


#: short names accepted by ``ReIDMetric(protocol=...)``, with the metric options each one takes
PROTOCOL_NAMES = {cls.name: cls for cls in (MarketProtocol, SYSUMM01Protocol, RegDBProtocol, TextImageProtocol,
                                            LLCMProtocol)}


def build_protocol(protocol, **options):
    """A protocol object from a short name (+ its options), a config dict, or an instance.

    Args:
        protocol (str | dict | ReIDProtocol): e.g. ``'sysu_mm01'``, ``dict(type='RegDBProtocol', direction='t2v')``.
        **options: options of a short-named protocol (``search_mode``, ``shots``, ``trials``, ``direction``);
            those the protocol does not take, and None (the protocol's default), are ignored (the metric passes
            all of them).
    """
    if isinstance(protocol, ReIDProtocol):
        return protocol
    if isinstance(protocol, dict):
        return REID_PROTOCOLS.build(protocol)
    if protocol not in PROTOCOL_NAMES:
        raise ValueError(f'ReIDMetric: protocol must be one of {tuple(PROTOCOL_NAMES)} or a dict with a `type` '
                         f'registered in REID_PROTOCOLS ({sorted(REID_PROTOCOLS.module_dict)}), got {protocol!r}')
    cls = PROTOCOL_NAMES[protocol]
    accepted = inspect.signature(cls).parameters
    return cls(**{k: v for k, v in options.items() if k in accepted and v is not None})


def sysu_gallery_groups(pids, camids, img_paths, search_mode='all'):
    """The (id, camera) groups the official SYSU-MM01 gallery draw walks through, in its order.

    Args:
        pids (Sequence[int]): person id of each visible candidate.
        camids (Sequence[int]): 0-based camera id of each candidate.
        img_paths (Sequence[str | None]): image path of each candidate.
        search_mode (str): ``'all'`` (cameras 1, 2, 4, 5) or ``'indoor'`` (cameras 1, 2).

    Returns:
        list[list[int]]: candidate positions per group, ids ascending, cameras in the official order, files
        sorted by path (the official code sorts the file names of one ``camX/ID`` folder).
    """
    return camera_groups(pids, camids, img_paths, SYSU_GALLERY_CAMS[search_mode])


def camera_groups(pids, camids, img_paths, cameras):
    """Candidate positions grouped by (id, camera): ids ascending, then ``cameras`` in the given order, each
    group's files sorted by path (the walk of the official SYSU-MM01 and LLCM gallery draws).

    Args:
        pids, camids, img_paths: per candidate (see :func:`sysu_gallery_groups`).
        cameras (Sequence[int]): 0-based camera ids in the order of the official code's camera list.
    """
    pids, camids = np.asarray(pids).tolist(), np.asarray(camids).tolist()
    groups = defaultdict(list)
    for i, key in enumerate(zip(pids, camids)):
        groups[key].append(i)
    ordered = []
    for pid in sorted(set(pids)):
        for cam in cameras:
            members = groups.get((pid, cam))
            if members:
                ordered.append(sorted(members, key=lambda i: (img_paths[i] or '', i)))
    return ordered


def draw_sysu_gallery(groups, trial, shots=1):
    """One trial's gallery from :func:`sysu_gallery_groups`, drawn as the official evaluation code does.

    Single-shot (``process_gallery_sysu`` of the AGW / DDAG code): ``random.seed(trial)`` then one
    ``random.choice`` per group. Multi-shot follows the official multi-shot code, ``np.random.choice(files,
    shots, replace=False)`` per group, with numpy's generator seeded by ``trial`` (where the official code would
    crash on a group with fewer than ``shots`` files, the whole group is taken).

    Returns:
        list[int]: candidate positions, in the official gallery order.
    """
    if shots == 1:
        py_rng = random.Random(trial)  # the same stream as random.seed(trial) + random.choice
        return [py_rng.choice(members) for members in groups]
    np_rng = np.random.RandomState(trial)
    selected = []
    for members in groups:
        if len(members) < shots:
            selected.extend(members)
        else:
            selected.extend(members[j] for j in np_rng.choice(len(members), shots, replace=False))
    return selected


def select_sysu_gallery(pids, camids, img_paths, trial, search_mode='all', shots=1):
    """Positions of the SYSU-MM01 gallery of one trial among the visible candidates (official draw).

    Args:
        pids, camids, img_paths: per visible candidate (see :func:`sysu_gallery_groups`).
        trial (int): trial index, the seed.
        search_mode (str): ``'all'`` or ``'indoor'``.
        shots (int): images per (id, camera): 1 = single-shot, 10 = the official multi-shot.
    """
    return draw_sysu_gallery(sysu_gallery_groups(pids, camids, img_paths, search_mode), trial, shots)
