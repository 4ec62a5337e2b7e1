"""Fixtures of the data set tests: every demo layout generated once per session, tiny hand-built trees."""
import importlib.util
import os.path as osp

import cv2
import numpy as np
import pytest

REPO = osp.abspath(osp.join(osp.dirname(__file__), '..', '..', '..'))


def load_demo_tool():
    """``tools/make_demo_data.py`` as a module (tools/ is not a package)."""
    spec = importlib.util.spec_from_file_location('make_demo_data', osp.join(REPO, 'tools', 'make_demo_data.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='session')
def demo_tool():
    return load_demo_tool()


@pytest.fixture(scope='session')
def demo_root(tmp_path_factory, demo_tool):
    """Root holding all eight demo data sets (seed 0)."""
    root = tmp_path_factory.mktemp('demo')
    demo_tool.make_demo_data(str(root), seed=0, verbose=False)
    return str(root)


def write_image(path, shape=(16, 8, 3), value=128):
    """A tiny valid image file at ``path`` (folders created)."""
    import os
    os.makedirs(osp.dirname(str(path)), exist_ok=True)
    assert cv2.imwrite(str(path), np.full(shape, value, np.uint8))
    return str(path)
