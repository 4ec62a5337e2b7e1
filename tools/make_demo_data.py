#!/usr/bin/env python
"""Write small demo versions of the eight ReID data sets in their exact real on-disk layouts.

Every identity is a procedurally drawn person (head, hair, torso with a clothing pattern, arms, legs, shoes,
optional bag) with per-identity colours, so a small CNN can learn the identity signal; per-image nuisance
(position/scale jitter, camera brightness and colour cast, background clutter and noise, occasional
occlusion) keeps the task from being trivial. Infrared/thermal images are a single-channel thermal-like
rendering of the same person; captions are generated from the same attributes.

Usage::

    python tools/make_demo_data.py [ROOT] [--datasets market1501 sysu-mm01 ...] [--seed 0] [--force]

Writes ``ROOT/<name>/`` for each data set (names in :data:`DATASETS`). Each set is written into a temporary
folder and renamed into place when complete, so a crash never leaves a half-written set; an existing complete
set written with the same seed is reused unless ``--force``.
"""
import argparse
import json
import os
import os.path as osp
import sys
import time

import cv2
import numpy as np

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..')))
from plugins.core.utils.atomic_write import atomic_dir  # noqa: E402

H, W = 128, 64  #: image size (height, width) of every demo image
GENERATOR_VERSION = 3  #: bump when the output changes, so stale demo sets are regenerated
MARKER = '.demo_complete'  #: written last inside a finished set

# ----------------------------------------------------------------------------------------------- attributes
COLOURS = {  # name -> RGB
    'red': (200, 30, 30), 'blue': (30, 60, 200), 'green': (40, 150, 50), 'yellow': (230, 210, 40),
    'black': (25, 25, 25), 'white': (235, 235, 235), 'grey': (128, 128, 128), 'pink': (240, 140, 180),
    'purple': (120, 50, 160), 'orange': (240, 130, 20), 'brown': (120, 75, 35)}
COLOUR_NAMES = tuple(COLOURS)
PATTERNS = ('plain', 'stripes', 'checks', 'dots', 'logo')
UPPER_TYPES = ('jacket', 't-shirt', 'shirt', 'coat', 'sweater')
LOWER_TYPES = ('trousers', 'jeans', 'shorts', 'skirt')
BAGS = ('none', 'none', 'backpack', 'handbag')
HAIR = {'black': (20, 20, 20), 'brown': (90, 55, 25), 'blond': (215, 185, 110)}
SKIN = ((235, 200, 170), (205, 160, 120), (150, 105, 70))


def draw_identity(rng, combo):
    """Attributes of one person. ``combo`` = (upper colour, lower colour, pattern), unique per data set."""
    upper, lower, pattern = combo
    gender = 'woman' if rng.random() < 0.5 else 'man'
    lower_types = LOWER_TYPES if gender == 'woman' else LOWER_TYPES[:3]
    return dict(
        gender=gender, upper=upper, lower=lower, pattern=pattern,
        secondary=str(rng.choice([c for c in COLOUR_NAMES if c != upper])),
        upper_type=str(rng.choice(UPPER_TYPES)), lower_type=str(rng.choice(lower_types)),
        shoes=str(rng.choice(('black', 'white', 'brown', 'grey'))), bag=str(rng.choice(BAGS)),
        bag_colour=str(rng.choice(COLOUR_NAMES)), hair=str(rng.choice(tuple(HAIR))),
        long_hair=bool(rng.random() < (0.7 if gender == 'woman' else 0.1)),
        skin=int(rng.integers(len(SKIN))))


def draw_identities(rng, n):
    """``n`` identities with distinct (upper colour, lower colour, pattern) combinations."""
    combos = [(u, lo, p) for u in COLOUR_NAMES for lo in COLOUR_NAMES for p in PATTERNS if u != lo]
    picks = rng.choice(len(combos), size=n, replace=False)
    return [draw_identity(rng, combos[i]) for i in picks]


# ----------------------------------------------------------------------------------------------- rendering
def _thermal(name):
    """Thermal intensity of a clothing colour: dark fabric absorbs heat and looks bright in infrared."""
    lum = np.dot(COLOURS[name], (0.299, 0.587, 0.114))
    return (int(215 - 0.45 * lum),) * 3


def _palette(attrs, infrared):
    if infrared:
        hot = (235, 235, 235)
        return dict(skin=hot, hair=(120, 120, 120), upper=_thermal(attrs['upper']),
                    secondary=_thermal(attrs['secondary']) if attrs['secondary'] != attrs['upper'] else (90,) * 3,
                    lower=_thermal(attrs['lower']), shoes=(70, 70, 70), bag=(55, 55, 55))
    return dict(skin=SKIN[attrs['skin']], hair=HAIR[attrs['hair']], upper=COLOURS[attrs['upper']],
                secondary=COLOURS[attrs['secondary']], lower=COLOURS[attrs['lower']],
                shoes=COLOURS[attrs['shoes']], bag=COLOURS[attrs['bag_colour']])


def _draw_pattern(canvas, pattern, colour, x0, y0, x1, y1):
    """Texture of the upper garment inside the box (x0, y0)-(x1, y1)."""
    region = canvas[y0:y1, x0:x1]
    if pattern == 'stripes':
        region[::6][:] = colour
        region[1::6][:] = colour
    elif pattern == 'checks':
        yy, xx = np.mgrid[0:y1 - y0, 0:x1 - x0]
        region[((yy // 5) + (xx // 5)) % 2 == 0] = colour
    elif pattern == 'dots':
        for yy in range(3, y1 - y0, 7):
            for xx in range(3 + (yy // 7 % 2) * 3, x1 - x0, 7):
                cv2.circle(region, (xx, yy), 1, colour, -1)
    elif pattern == 'logo':
        cx, cy = (x1 - x0) // 2, (y1 - y0) // 3
        cv2.rectangle(region, (cx - 5, cy - 4), (cx + 5, cy + 6), colour, -1)


def render_person(attrs, view='front', infrared=False):
    """Person layer on an (H, W) canvas.

    Returns:
        tuple: RGB uint8 image (H, W, 3) and float mask (H, W) in [0, 1].
    """
    pal = _palette(attrs, infrared)
    img = np.zeros((H, W, 3), np.uint8)
    mask = np.zeros((H, W), np.uint8)

    def fill_rect(p0, p1, colour):
        cv2.rectangle(img, p0, p1, colour, -1)
        cv2.rectangle(mask, p0, p1, 255, -1)

    def fill_poly(points, colour):
        pts = np.array(points, np.int32)
        cv2.fillPoly(img, [pts], colour)
        cv2.fillPoly(mask, [pts], 255)

    coat = attrs['upper_type'] == 'coat'
    torso_bottom = 80 if coat else 68
    if attrs['bag'] == 'backpack' and view == 'back':
        fill_rect((19, 30), (45, 62), pal['bag'])
    # legs and shoes
    lower, skin = pal['lower'], pal['skin']
    leg_end = {'shorts': 86, 'skirt': 68}.get(attrs['lower_type'], 114)
    for x0, x1 in ((21, 31), (33, 43)):
        fill_rect((x0, 66), (x1, 114), skin)
        fill_rect((x0, 66), (x1, leg_end), lower)
        fill_rect((x0 - 1, 114), (x1 + 1, 122), pal['shoes'])
    if attrs['lower_type'] == 'skirt':
        fill_poly([(21, 64), (43, 64), (48, 94), (16, 94)], lower)
    if attrs['lower_type'] == 'jeans':  # seams make jeans differ from trousers
        img[70:112, 26] = np.clip(np.array(lower) * 0.6, 0, 255).astype(np.uint8)
        img[70:112, 38] = np.clip(np.array(lower) * 0.6, 0, 255).astype(np.uint8)
    # arms
    sleeve_end = 42 if attrs['upper_type'] == 't-shirt' else 64
    for x0, x1 in ((12, 18), (46, 52)):
        fill_rect((x0, 28), (x1, 66), skin)
        fill_rect((x0, 28), (x1, sleeve_end), pal['upper'])
    # torso with texture
    fill_poly([(17, 26), (47, 26), (45, torso_bottom), (19, torso_bottom)], pal['upper'])
    if view != 'back' or attrs['pattern'] != 'logo':
        _draw_pattern(img, attrs['pattern'], pal['secondary'], 20, 29, 45, torso_bottom - 2)
    if attrs['upper_type'] == 'jacket' and view != 'back':  # open jacket shows a zip line
        img[28:torso_bottom, 31:33] = pal['secondary']
    # head and hair
    if attrs['long_hair']:
        fill_rect((23, 10), (41, 36), pal['hair'])
    cv2.ellipse(img, (32, 16), (7, 9), 0, 0, 360, skin, -1)
    cv2.ellipse(mask, (32, 16), (7, 9), 0, 0, 360, 255, -1)
    hair_span = (0, 360) if view == 'back' else (180, 360)
    cv2.ellipse(img, (32, 14), (8, 8), 0, hair_span[0], hair_span[1], pal['hair'], -1)
    cv2.ellipse(mask, (32, 14), (8, 8), 0, hair_span[0], hair_span[1], 255, -1)
    if attrs['bag'] == 'handbag':
        fill_rect((50, 58), (58, 72), pal['bag'])
    elif attrs['bag'] == 'backpack' and view != 'back':
        fill_rect((46, 28), (49, 50), pal['bag'])  # strap
    if view == 'side':
        img, mask = img[:, ::-1].copy(), mask[:, ::-1].copy()
    return img, mask.astype(np.float32) / 255.0


class Camera:
    """Per-camera nuisance: background, brightness and colour cast (infrared cameras are grey and dark)."""

    def __init__(self, rng, infrared=False):
        self.infrared = infrared
        base = rng.integers(25, 70) if infrared else rng.integers(70, 200, size=3)
        grad = np.linspace(-25, 25, H)[:, None, None] * rng.choice((-1, 1))
        grad = np.pad(grad, ((0, 16), (0, 0), (0, 0)), mode='edge')
        self.background = np.clip(np.ones((H + 16, W + 16, 3)) * base + grad, 0, 255)
        for _ in range(4):  # static clutter of the scene
            x, y = int(rng.integers(0, W + 10)), int(rng.integers(0, H + 10))
            colour = rng.integers(0, 256, size=3) if not infrared else np.full(3, rng.integers(20, 110))
            cv2.rectangle(self.background, (x, y), (x + int(rng.integers(6, 30)), y + int(rng.integers(6, 40))),
                          colour.tolist(), -1)
        self.gain = 1.0 if infrared else rng.uniform(0.8, 1.15) * rng.uniform(0.93, 1.07, size=3)


def compose(rng, person, camera, occlude_p=0.15, jitter=4):
    """Place a person layer on a camera background with random scale/shift, noise and occlusion.

    Returns:
        np.ndarray: RGB uint8 (H, W, 3).
    """
    img, mask = person
    scale = rng.uniform(0.85, 1.02)
    tx = W / 2 * (1 - scale) + rng.uniform(-jitter, jitter)
    ty = H / 2 * (1 - scale) + rng.uniform(-jitter, jitter)
    affine = np.float32([[scale, 0, tx], [0, scale, ty]])
    img = cv2.warpAffine(img, affine, (W, H), flags=cv2.INTER_LINEAR)
    mask = cv2.warpAffine(mask, affine, (W, H), flags=cv2.INTER_LINEAR)[..., None]
    ox, oy = rng.integers(0, 16, size=2)
    bg = camera.background[oy:oy + H, ox:ox + W]
    out = mask * img + (1 - mask) * bg
    out = out * camera.gain * rng.uniform(0.9, 1.1) + rng.normal(0, 6, size=out.shape)
    if rng.random() < occlude_p:  # occluder (another object / person) over the lower or side part
        h, w = int(rng.integers(20, 45)), int(rng.integers(20, W))
        x, y = int(rng.integers(0, W - w + 1)), int(rng.integers(H // 2, H - h + 1))
        out[y:y + h, x:x + w] = rng.integers(0, 256, size=1 if camera.infrared else 3)
    if camera.infrared:
        out = out.mean(axis=2, keepdims=True).repeat(3, axis=2)
    return np.clip(out, 0, 255).astype(np.uint8)


class Renderer:
    """Caches person layers per (identity, view, modality) and renders images of an identity."""

    def __init__(self, identities):
        self.identities = identities
        self._cache = {}

    def person(self, pid, view, infrared):
        key = (pid, view, infrared)
        if key not in self._cache:
            self._cache[key] = render_person(self.identities[pid], view, infrared)
        return self._cache[key]

    def image(self, rng, pid, camera, jitter=4):
        view = ('front', 'back', 'side')[int(rng.integers(3))]
        return compose(rng, self.person(pid, view, camera.infrared), camera, jitter=jitter), view


def junk_image(rng, camera):
    """A false detection: scene background with a fragment of a body at a random place."""
    out = camera.background[:H, :W] * camera.gain + rng.normal(0, 6, size=(H, W, 3))
    x, y = int(rng.integers(0, W - 10)), int(rng.integers(0, H - 20))
    out[y:y + 20, x:x + 10] = rng.integers(0, 256, size=3)
    return np.clip(out, 0, 255).astype(np.uint8)


def save_image(path, rgb):
    os.makedirs(osp.dirname(path), exist_ok=True)
    params = [cv2.IMWRITE_JPEG_QUALITY, 92] if path.endswith('.jpg') else []
    if not cv2.imwrite(path, rgb[..., ::-1], params):
        raise OSError(f'could not write {path}')


# ----------------------------------------------------------------------------------------------- captions
def _pattern_phrase(a):
    return {'plain': '', 'stripes': f' with {a["secondary"]} stripes',
            'checks': f' with a {a["secondary"]} checked pattern', 'dots': f' with {a["secondary"]} dots',
            'logo': f' with a {a["secondary"]} logo on the front'}[a['pattern']]


def _bag_phrase(a):
    return '' if a['bag'] == 'none' else f', carrying a {a["bag_colour"]} {a["bag"]}'


CAPTION_TEMPLATES = (
    '{article} {gender} wearing a {upper} {upper_type}{pattern} and {lower} {lower_type} with {shoes} shoes{bag}.',
    'The {gender} has {hair_len} {hair} hair. {Pron} is dressed in a {upper} {upper_type}{pattern}, {lower} '
    '{lower_type} and {shoes} shoes{bag}.',
    'This person wears {lower} {lower_type} and a {upper} {upper_type}{pattern}. {Pron} has {shoes} shoes on{bag}.',
    '{article} {gender} {walking} in a {upper} {upper_type}{pattern}, {lower} {lower_type} and {shoes} shoes{bag}.',
    '{article} {gender} with {hair_len} {hair} hair, wearing {lower} {lower_type}, a {upper} {upper_type}'
    '{pattern} and {shoes} shoes{bag}.',
)


def captions_for(rng, attrs, view, n):
    """``n`` different captions of one image, generated from the identity's attributes and the view."""
    walking = {'front': 'walking towards the camera', 'back': 'walking away from the camera',
               'side': 'walking to the side'}[view]
    fields = dict(article='A', gender=attrs['gender'], upper=attrs['upper'], upper_type=attrs['upper_type'],
                  pattern=_pattern_phrase(attrs), lower=attrs['lower'], lower_type=attrs['lower_type'],
                  shoes=attrs['shoes'], bag=_bag_phrase(attrs), hair=attrs['hair'],
                  hair_len='long' if attrs['long_hair'] else 'short',
                  Pron='She' if attrs['gender'] == 'woman' else 'He', walking=walking)
    picks = rng.choice(len(CAPTION_TEMPLATES), size=n, replace=False)
    return [CAPTION_TEMPLATES[i].format(**fields) for i in picks]


# ----------------------------------------------------------------------------------------------- data sets
def _cameras(rng, n, infrared=()):
    return {c: Camera(rng, infrared=c in infrared) for c in range(1, n + 1)}


def _pick_cams(rng, cams, low, high):
    k = int(rng.integers(low, high + 1))
    return sorted(int(c) for c in rng.choice(cams, size=min(k, len(cams)), replace=False))


def write_market_like(out, rng, folder_names, name_fn, num_cams, n_train, n_test, max_pid, n_distractor_ids=0,
                      junk=0, ext='.jpg', jitter=4, cams_per_id=(2, 4), imgs_per_cam=(2, 4),
                      train_cams_per_id=(3, 5), train_imgs_per_cam=(4, 6)):
    """Market-style folders: train ids, test ids (1 query per camera, the rest gallery), distractors, junk.

    ``name_fn(pid, cam, k)`` gives the file name (``pid`` may be 0 (distractor) or -1 (junk)).
    """
    pids = sorted(int(p) for p in rng.choice(np.arange(1, max_pid + 1), size=n_train + n_test, replace=False))
    perm = rng.permutation(len(pids))
    train_ids = sorted(pids[i] for i in perm[:n_train])
    test_ids = sorted(pids[i] for i in perm[n_train:])
    identities = dict(zip(train_ids + test_ids, draw_identities(rng, n_train + n_test + n_distractor_ids)))
    renderer = Renderer(identities)
    cameras = _cameras(rng, num_cams)
    cam_list = list(range(1, num_cams + 1))
    train_dir, test_dir, query_dir = (osp.join(out, f) for f in folder_names)
    counter = [0]

    def write(folder, pid, cam, rgb):
        counter[0] += 1
        save_image(osp.join(folder, name_fn(pid, cam, counter[0]) + ext), rgb)

    for pid in train_ids:  # more images per training id than per test id: the demo trains only a few epochs
        for cam in _pick_cams(rng, cam_list, *train_cams_per_id):
            for _ in range(int(rng.integers(train_imgs_per_cam[0], train_imgs_per_cam[1] + 1))):
                write(train_dir, pid, cam, renderer.image(rng, pid, cameras[cam], jitter)[0])
    for pid in test_ids:
        for cam in _pick_cams(rng, cam_list, *cams_per_id):
            for k in range(int(rng.integers(imgs_per_cam[0], imgs_per_cam[1] + 1))):
                write(query_dir if k == 0 else test_dir, pid, cam, renderer.image(rng, pid, cameras[cam], jitter)[0])
    # distractor identities that only appear in the gallery (Duke) with their own ids
    extra = [p for p in range(max_pid + 1, max_pid + 1 + n_distractor_ids)]
    if extra:
        ids = draw_identities(rng, n_distractor_ids)
        renderer.identities.update(zip(extra, ids))
        for pid in extra:
            for cam in _pick_cams(rng, cam_list, 1, 2):
                write(test_dir, pid, cam, renderer.image(rng, pid, cameras[cam], jitter)[0])
    for i in range(junk):  # Market: pid 0 = distractor (kept), pid -1 = junk (ignored)
        cam = int(rng.integers(1, num_cams + 1))
        write(test_dir, 0 if i % 2 == 0 else -1, cam, junk_image(rng, cameras[cam]))


def make_market1501(out, rng):
    def name(pid, cam, k):  # PPPP_cCsS_FFFFFF_BB
        pid_s = '-1' if pid == -1 else f'{pid:04d}'
        return f'{pid_s}_c{cam}s{1 + k % 6}_{(k * 37) % 1000000:06d}_{1 + k % 3:02d}'
    folders = ('bounding_box_train', 'bounding_box_test', 'query')
    write_market_like(osp.join(out, 'Market-1501-v15.09.15'), rng, folders, name, num_cams=6, n_train=30,
                      n_test=30, max_pid=1501, junk=24)


def make_dukemtmc(out, rng):
    def name(pid, cam, k):  # 0005_c2_f0046985
        return f'{pid:04d}_c{cam}_f{(k * 131) % 10000000:07d}'
    write_market_like(osp.join(out, 'DukeMTMC-reID'), rng, ('bounding_box_train', 'bounding_box_test', 'query'),
                      name, num_cams=8, n_train=30, n_test=25, max_pid=7140, n_distractor_ids=5)


def make_cuhk03(out, rng):
    state = rng.bit_generator.state
    for variant, jitter in (('labeled', 3), ('detected', 7)):  # same people; detected crops are sloppier
        rng.bit_generator.state = state

        def name(pid, cam, k):  # 0001_c1_1
            return f'{pid:04d}_c{cam}_{k}'
        write_market_like(osp.join(out, 'cuhk03-np', variant), rng,
                          ('bounding_box_train', 'bounding_box_test', 'query'), name, num_cams=2, n_train=25,
                          n_test=25, max_pid=1467, ext='.png', jitter=jitter, cams_per_id=(2, 2),
                          imgs_per_cam=(3, 5), train_cams_per_id=(2, 2), train_imgs_per_cam=(5, 7))


SYSU_VISIBLE, SYSU_INFRARED = (1, 2, 4, 5), (3, 6)


def make_sysu(out, rng):
    n_ids = 50
    identities = draw_identities(rng, n_ids)
    renderer = Renderer(dict(zip(range(1, n_ids + 1), identities)))
    cameras = _cameras(rng, 6, infrared=SYSU_INFRARED)
    for pid in range(1, n_ids + 1):
        # every id has an indoor (1/2) and an outdoor (4/5) visible camera and at least one infrared camera
        cams = {int(rng.choice((1, 2))), int(rng.choice((4, 5))), int(rng.choice(SYSU_INFRARED))}
        cams |= {c for c in range(1, 7) if rng.random() < 0.4}
        for cam in sorted(cams):
            for k in range(1, int(rng.integers(3, 5)) + 1):
                save_image(osp.join(out, f'cam{cam}', f'{pid:04d}', f'{k:04d}.jpg'),
                           renderer.image(rng, pid, cameras[cam])[0])
    ids = rng.permutation(np.arange(1, n_ids + 1))
    splits = dict(train=ids[:26], val=ids[26:32], test=ids[32:])
    os.makedirs(osp.join(out, 'exp'))
    for split, split_ids in splits.items():
        with open(osp.join(out, 'exp', f'{split}_id.txt'), 'w') as f:
            f.write(','.join(str(int(i)) for i in sorted(split_ids)))


REGDB_TRIALS = 10


def make_regdb(out, rng):
    n_ids, per_modality = 40, 5
    identities = draw_identities(rng, n_ids)
    renderer = Renderer(dict(zip(range(1, n_ids + 1), identities)))
    visible, thermal = Camera(rng), Camera(rng, infrared=True)
    files = {}
    for pid in range(1, n_ids + 1):
        gender = 'female' if identities[pid - 1]['gender'] == 'woman' else 'male'
        files[pid] = {'visible': [], 'thermal': []}
        for modality, folder, tag, cam in (('visible', 'Visible', 'v', visible), ('thermal', 'Thermal', 't', thermal)):
            for _ in range(per_modality):
                img, view = renderer.image(rng, pid, cam)
                num = int(rng.integers(0, 100000))
                rel = f'{folder}/{pid}/{gender}_{view if view != "side" else "front"}_{tag}_{num:05d}_{pid}.bmp'
                save_image(osp.join(out, rel), img)
                files[pid][modality].append(rel)
    os.makedirs(osp.join(out, 'idx'))
    for trial in range(1, REGDB_TRIALS + 1):  # a different random half of the ids is trained on in each trial
        perm = np.random.default_rng(trial).permutation(np.arange(1, n_ids + 1))
        for split, split_ids in (('train', perm[:n_ids // 2]), ('test', perm[n_ids // 2:])):
            for modality in ('visible', 'thermal'):
                lines = [f'{rel} {label}' for label, pid in enumerate(sorted(split_ids))
                         for rel in files[int(pid)][modality]]
                with open(osp.join(out, 'idx', f'{split}_{modality}_{trial}.txt'), 'w') as f:
                    f.write('\n'.join(lines) + '\n')


def _text_records(out, rng, split_sizes, imgs_per_id, captions_per_img, path_fn, first_id):
    """Render images and build JSON records for a text-image set; ``path_fn(pid, k, split)`` -> relative path."""
    n_ids = sum(split_sizes.values())
    identities = draw_identities(rng, n_ids)
    renderer = Renderer(dict(zip(range(n_ids), identities)))
    cameras = _cameras(rng, 4)
    records, pid = [], 0
    for split, n in split_sizes.items():
        for _ in range(n):
            for k in range(imgs_per_id):
                cam = int(rng.integers(1, 5))
                img, view = renderer.image(rng, pid, cameras[cam])
                rel = path_fn(pid + first_id, k, split, cam)
                save_image(osp.join(out, 'imgs', rel), img)
                records.append(dict(split=split, id=pid + first_id, rel=rel,
                                    captions=captions_for(rng, identities[pid], view, captions_per_img)))
            pid += 1
    return records


def _write_json(path, obj):
    with open(path, 'w') as f:
        json.dump(obj, f, indent=1)


def make_cuhk_pedes(out, rng):
    sources = ('CUHK01', 'CUHK03', 'Market', 'test_query', 'train_query')

    def path(pid, k, split, cam):
        source = sources[pid % len(sources)]
        return f'{source}/{pid:04d}{k:03d}' + ('.png' if source.startswith('CUHK') else '.jpg')
    records = _text_records(out, rng, dict(train=40, val=8, test=16), 3, 2, path, first_id=1)
    _write_json(osp.join(out, 'reid_raw.json'), [
        dict(split=r['split'], captions=r['captions'], file_path=r['rel'],
             processed_tokens=[c.lower().replace('.', '').replace(',', '').split() for c in r['captions']],
             id=r['id']) for r in records])


def make_icfg_pedes(out, rng):
    def path(pid, k, split, cam):
        return f'{split}/{pid:04d}/{pid:04d}_{cam:03d}_{k + 1:02d}_0303morning_{k:04d}_0.jpg'
    records = _text_records(out, rng, dict(train=40, test=16), 3, 1, path, first_id=1)
    _write_json(osp.join(out, 'ICFG-PEDES.json'), [
        dict(id=r['id'], file_path=r['rel'], captions=r['captions'],
             processed_tokens=[c.lower().replace('.', '').replace(',', '').split() for c in r['captions']],
             split=r['split']) for r in records])


def make_rstpreid(out, rng):
    def path(pid, k, split, cam):
        return f'{pid:04d}_c{cam}_{k * 7 + 3:04d}.jpg'
    records = _text_records(out, rng, dict(train=40, val=8, test=16), 4, 2, path, first_id=0)
    _write_json(osp.join(out, 'data_captions.json'), [
        dict(id=r['id'], img_path=r['rel'], captions=r['captions'], split=r['split']) for r in records])


#: demo folder name -> writer. The folder names are also the ``data/<name>`` folders of the real configs.
DATASETS = {
    'market1501': make_market1501, 'dukemtmc-reid': make_dukemtmc, 'cuhk03': make_cuhk03,
    'sysu-mm01': make_sysu, 'regdb': make_regdb, 'cuhk-pedes': make_cuhk_pedes, 'icfg-pedes': make_icfg_pedes,
    'rstpreid': make_rstpreid}


# ----------------------------------------------------------------------------------------------- driver
def _is_complete(path, seed):
    try:
        with open(osp.join(path, MARKER)) as f:
            marker = json.load(f)
    except (OSError, ValueError):
        return False
    return marker.get('seed') == seed and marker.get('version') == GENERATOR_VERSION


def make_dataset(root, name, seed=0, force=False):
    """Write ``root/name`` atomically (temporary folder, then rename). Returns the folder and whether written."""
    final = osp.join(root, name)
    if osp.isdir(final) and not force:
        if _is_complete(final, seed):
            return final, False
        if not osp.exists(osp.join(final, MARKER)):
            raise FileExistsError(f'{final} exists and is not a demo set written by this tool; '
                                  f'pass --force to replace it')
    # one stream per data set, so that choosing --datasets never changes the other sets
    rng = np.random.default_rng([seed, list(DATASETS).index(name)])
    with atomic_dir(final) as tmp:  # .<name>.<pid>.tmp, renamed into place (replacing an old set) when complete
        DATASETS[name](tmp, rng)
        _write_json(osp.join(tmp, MARKER), dict(seed=seed, version=GENERATOR_VERSION, dataset=name))
    return final, True


def make_demo_data(root='data/demo', datasets=None, seed=0, force=False, verbose=True):
    """Write the chosen demo data sets (all by default) under ``root``; returns ``{name: folder}``."""
    datasets = list(DATASETS) if not datasets else list(datasets)
    unknown = [d for d in datasets if d not in DATASETS]
    if unknown:
        raise ValueError(f'unknown demo data set(s) {unknown}; choose from {list(DATASETS)}')
    cv2.setNumThreads(1)
    folders = {}
    for name in datasets:
        start = time.time()
        folders[name], written = make_dataset(root, name, seed=seed, force=force)
        if verbose:
            state = f'written in {time.time() - start:.1f}s' if written else 'exists (same seed), reused'
            print(f'{name:14s} -> {folders[name]}  {state}')
    return folders


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('root', nargs='?', default='data/demo', help='output root (default: data/demo)')
    parser.add_argument('--datasets', nargs='+', default=None, choices=list(DATASETS),
                        help='which data sets to write (default: all)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--force', action='store_true', help='rewrite sets that already exist')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    make_demo_data(args.root, args.datasets, seed=args.seed, force=args.force)


if __name__ == '__main__':
    sys.exit(main())
