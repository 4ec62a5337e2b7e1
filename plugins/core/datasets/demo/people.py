"""Procedural people for the demo data sets: identities, rendering, cameras and captions.

Every identity is a procedurally drawn person (head, hair, torso with a clothing pattern, arms, legs, shoes,
optional bag) with per-identity colours, so a small CNN can learn the identity signal; per-image nuisance
(position/scale jitter, camera brightness and colour cast, background clutter and noise, occasional
occlusion) keeps the task from being trivial. Infrared/thermal images are a single-channel thermal-like
rendering of the same person; captions are generated from the same attributes.
"""
import os
import os.path as osp

import cv2
import numpy as np

H, W = 128, 64  #: image size (height, width) of every demo image

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
