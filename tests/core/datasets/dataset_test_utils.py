"""Helpers of the data set tests (a uniquely named module: several test folders have a conftest.py)."""
import importlib.util
import os
import os.path as osp

import cv2
import numpy as np

REPO = osp.abspath(osp.join(osp.dirname(__file__), '..', '..', '..'))


def load_demo_tool():
    """``tools/make_demo_data.py`` as a module (tools/ is not a package)."""
    spec = importlib.util.spec_from_file_location('make_demo_data', osp.join(REPO, 'tools', 'make_demo_data.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_image(path, shape=(16, 8, 3), value=128):
    """A tiny valid image file at ``path`` (folders created)."""
    os.makedirs(osp.dirname(str(path)), exist_ok=True)
    assert cv2.imwrite(str(path), np.full(shape, value, np.uint8))
    return str(path)
