import numpy as np
import pytest
from mmpretrain.registry import TRANSFORMS

import plugins  # noqa: F401


def image(h=16, w=8, seed=0):
    """A random BGR uint8 image whose three channels are clearly different."""
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    img[..., 0] //= 4  # B dark, G mid, R bright on average
    img[..., 2] = 128 + img[..., 2] // 2
    return img


def build(cfg):
    return TRANSFORMS.build(cfg)


def test_random_grayscale_equal_channels_with_luma_of_bgr_pixel():
    np.random.seed(0)
    img = image()
    out = build(dict(type='RandomGrayscaleReID', prob=1.0)).transform(dict(img=img.copy()))['img']
    assert out.shape == img.shape and out.dtype == np.uint8
    assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()
    b, g, r = (int(v) for v in img[3, 5])
    assert out[3, 5, 0] == round(0.2989 * r + 0.5870 * g + 0.1140 * b)
    rgb = build(dict(type='RandomGrayscaleReID', prob=1.0, channel_order='rgb')).transform(dict(img=img.copy()))
    assert rgb['img'][3, 5, 0] == round(0.2989 * b + 0.5870 * g + 0.1140 * r)


def test_random_grayscale_probability():
    np.random.seed(1)
    transform = build(dict(type='RandomGrayscaleReID', prob=0.3))
    img = image()
    converted = sum(not np.array_equal(transform.transform(dict(img=img.copy()))['img'], img) for _ in range(1000))
    assert 240 < converted < 360
    unchanged = build(dict(type='RandomGrayscaleReID', prob=0.0)).transform(dict(img=img.copy()))['img']
    assert np.array_equal(unchanged, img)


@pytest.mark.parametrize('with_gray', [False, True])
def test_channel_exchange_copies_one_channel_or_gray(with_gray):
    np.random.seed(2)
    img = image()
    transform = build(dict(type='ChannelExchange', prob=1.0, with_gray=with_gray))
    gray = build(dict(type='RandomGrayscaleReID', prob=1.0)).transform(dict(img=img.copy()))['img'][..., 0]
    candidates = [img[..., 0], img[..., 1], img[..., 2], gray]
    counts = np.zeros(4, int)
    for _ in range(400):
        out = transform.transform(dict(img=img.copy()))['img']
        assert out.shape == img.shape and out.dtype == img.dtype
        assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()
        matches = [k for k, c in enumerate(candidates) if np.array_equal(out[..., 0], c)]
        assert len(matches) == 1
        counts[matches[0]] += 1
    expected = 100 if with_gray else 400 / 3
    assert all(abs(c - expected) < 0.3 * expected for c in counts[:4 if with_gray else 3])
    if not with_gray:
        assert counts[3] == 0


def test_channel_exchange_probability_zero_is_identity():
    img = image()
    out = build(dict(type='ChannelExchange', prob=0.0)).transform(dict(img=img.copy()))['img']
    assert np.array_equal(out, img)


def erased_box(before, after):
    """Bounding box of the changed pixels and whether *every* pixel inside it changed to one colour."""
    changed = (before != after).any(axis=-1) if before.ndim == 3 else before != after
    rows, cols = np.flatnonzero(changed.any(1)), np.flatnonzero(changed.any(0))
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    return (top, bottom, left, right), after[top:bottom, left:right]


def test_channel_random_erasing_changes_only_a_rectangle_with_the_fill():
    np.random.seed(3)
    transform = build(dict(type='ChannelRandomErasing', prob=1.0, fill=(10, 20, 30)))
    for seed in range(20):
        img = image(32, 16, seed) | 1  # odd values: never equal to the even fill
        out = transform.transform(dict(img=img.copy()))['img']
        (top, bottom, left, right), patch = erased_box(img, out)
        assert (patch == np.array([10, 20, 30], np.uint8)).all()  # the whole box is the fill
        outside = np.ones(img.shape[:2], bool)
        outside[top:bottom, left:right] = False
        assert np.array_equal(out[outside], img[outside])
        ratio = (bottom - top) * (right - left) / (32 * 16)
        assert 0.01 <= ratio <= 0.45  # 0.02..0.4 up to rounding of h and w
        assert bottom - top < 32 and right - left < 16


def test_channel_random_erasing_default_fill_and_single_channel():
    from plugins.core.data.transforms.channel_random_erasing import CAJ_FILL_BGR
    # CAJ's normalised fill (0.4914, 0.4822, 0.4465) RGB -> pixels: R = (0.4914*0.229+0.485)*255
    assert CAJ_FILL_BGR[2] == pytest.approx((0.4914 * 0.229 + 0.485) * 255)
    assert CAJ_FILL_BGR[0] == pytest.approx((0.4465 * 0.225 + 0.406) * 255)
    np.random.seed(4)
    img = image(32, 16)[..., 0] | 1
    out = build(dict(type='ChannelRandomErasing', prob=1.0)).transform(dict(img=img.copy()))['img']
    _, patch = erased_box(img, out)
    assert out.shape == img.shape and (patch == round(CAJ_FILL_BGR[0])).all()
    assert np.array_equal(build(dict(type='ChannelRandomErasing', prob=0.0)).transform(dict(img=img))['img'], img)


def test_mmpretrain_random_erasing_works_on_reid_uint8_images():
    """mmpretrain's RandomErasing is the random erasing of our ReID pipelines (see docs/transforms.md)."""
    np.random.seed(5)
    transform = build(dict(type='RandomErasing', erase_prob=1.0, mode='const', min_area_ratio=0.02,
                           max_area_ratio=0.4, fill_color=(103.53, 116.28, 123.675)))
    img = image(32, 16) | 1
    out = transform.transform(dict(img=img.copy()))['img']
    assert out.dtype == np.uint8 and out.shape == img.shape
    (top, bottom, left, right), patch = erased_box(img, out)
    assert (patch == np.array([103, 116, 123], np.uint8)).all()
    outside = np.ones(img.shape[:2], bool)
    outside[top:bottom, left:right] = False
    assert np.array_equal(out[outside], img[outside])
