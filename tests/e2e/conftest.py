"""Shared fixture of the end-to-end tests: demo data generated once per session."""
import pytest

from tests.helpers import make_demo_data


@pytest.fixture(scope='session')
def demo_root(tmp_path_factory):
    """A working directory holding ``data/demo`` (every layout), as the demo configs expect."""
    root = tmp_path_factory.mktemp('demo_cwd')
    make_demo_data(root / 'data' / 'demo')
    return root
