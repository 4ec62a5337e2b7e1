"""Set-up shared by every test."""
import os

import torch


def pytest_configure(config):
    # .ci/run runs the suite in 2 pytest-xdist workers on 2 cores: a worker that kept torch's default of one
    # thread per core would oversubscribe the machine, which slows CPU training steps down several times
    if os.environ.get('PYTEST_XDIST_WORKER'):
        torch.set_num_threads(1)
        os.environ['OMP_NUM_THREADS'] = '1'
