"""Fixtures of the data set tests: every demo layout generated once per session."""
import pytest
from dataset_test_utils import load_demo_tool


@pytest.fixture(scope='session')
def demo_tool():
    return load_demo_tool()


@pytest.fixture(scope='session')
def demo_root(tmp_path_factory, demo_tool):
    """Root holding every demo data set (seed 0)."""
    root = tmp_path_factory.mktemp('demo')
    demo_tool.make_demo_data(str(root), seed=0, verbose=False)
    return str(root)
