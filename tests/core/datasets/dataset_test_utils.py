"""Helpers of the data set tests (a uniquely named module: several test folders have a conftest.py)."""
import os
import os.path as osp

import cv2
import numpy as np

REPO = osp.abspath(osp.join(osp.dirname(__file__), '..', '..', '..'))


def load_demo_tool():
    """The demo-data generator package (:mod:`plugins.core.datasets.demo`)."""
    from plugins.core.datasets import demo
    return demo


def write_image(path, shape=(16, 8, 3), value=128):
    """A tiny valid image file at ``path`` (folders created)."""
    os.makedirs(osp.dirname(str(path)), exist_ok=True)
    assert cv2.imwrite(str(path), np.full(shape, value, np.uint8))
    return str(path)
