"""Checkpoints are written atomically: an interrupted write never leaves a truncated file behind."""
import os
import stat

import pytest
import torch
from mmengine.fileio import get_file_backend
from mmengine.runner.checkpoint import save_checkpoint

from plugins.core.utils import AtomicLocalBackend, atomic_write


def test_local_paths_use_the_atomic_backend():
    assert isinstance(get_file_backend('/some/where/epoch_1.pth'), AtomicLocalBackend)


def test_save_checkpoint_round_trip(tmp_path):
    path = tmp_path / 'epoch_1.pth'
    save_checkpoint({'state_dict': {'w': torch.arange(3.0)}}, str(path))
    assert torch.equal(torch.load(path, weights_only=True)['state_dict']['w'], torch.arange(3.0))
    assert os.listdir(tmp_path) == ['epoch_1.pth']  # no temporary file left


def test_interrupted_write_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / 'latest.pth'
    atomic_write(b'complete old checkpoint', path)

    real_fdopen = os.fdopen

    def failing_fdopen(*args, **kwargs):
        f = real_fdopen(*args, **kwargs)
        original_write = f.write

        def write(data):
            original_write(data[:5])
            raise KeyboardInterrupt('killed while writing')
        f.write = write
        return f

    monkeypatch.setattr(os, 'fdopen', failing_fdopen)
    with pytest.raises(KeyboardInterrupt):
        atomic_write(b'new checkpoint that never completes', path)
    assert path.read_bytes() == b'complete old checkpoint'
    assert os.listdir(tmp_path) == ['latest.pth']


def test_written_file_has_the_permissions_of_a_plain_open(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write(b'x', tmp_path / 'ckpt.pth')
    finally:
        os.umask(old)
    # mkstemp creates 0600 files; other users of a shared work dir must still be able to read checkpoints
    assert stat.S_IMODE(os.stat(tmp_path / 'ckpt.pth').st_mode) == 0o644
