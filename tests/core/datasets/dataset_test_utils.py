"""Helpers of the data set tests (a uniquely named module: several test folders have a conftest.py)."""
import os
import os.path as osp
import zlib

import cv2
import numpy as np

REPO = osp.abspath(osp.join(osp.dirname(__file__), '..', '..', '..'))


def load_demo_tool():
    """The demo-data generator package (:mod:`plugins.core.datasets.demo`)."""
    from plugins.core.datasets import demo
    return demo


def write_image(path, shape=(16, 8, 3), value=None):
    """A tiny valid image file at ``path`` (folders created): uniform ``value``, or by default grey with a first
    row drawn from the path, so that no two files are byte-identical (data sets refuse identical copies)."""
    os.makedirs(osp.dirname(str(path)), exist_ok=True)
    image = np.full(shape, 128 if value is None else value, np.uint8)
    if value is None:
        seed = zlib.crc32(str(path).encode())
        image[0] = np.random.RandomState(seed).randint(0, 256, image[0].shape)
    assert cv2.imwrite(str(path), image)
    return str(path)
