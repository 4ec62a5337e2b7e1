"""Fixtures shared by the ecosystem tests."""
import pytest

from tests.helpers import make_demo_data


@pytest.fixture(scope='module')
def demo(tmp_path_factory):
    """``data/demo`` with Market-1501 and CUHK-PEDES, one folder for every ecosystem test (generated once)."""
    root = tmp_path_factory.getbasetemp() / 'ecosystem_demo'
    make_demo_data(root, 'market1501', 'cuhk-pedes')
    return root
