"""Checkpoints are written atomically: an interrupted write never leaves a truncated file behind."""
import os
import stat

import pytest
import torch
from mmengine.fileio import get_file_backend
from mmengine.runner.checkpoint import save_checkpoint

from plugins.core.utils import AtomicLocalBackend, apply_mmengine_patches

apply_mmengine_patches()  # what a config's custom_imports does in a run


def test_local_paths_use_the_atomic_backend():
    assert isinstance(get_file_backend('/some/where/epoch_1.pth'), AtomicLocalBackend)


def test_save_checkpoint_round_trip(tmp_path):
    path = tmp_path / 'epoch_1.pth'
    save_checkpoint({'state_dict': {'w': torch.arange(3.0)}}, str(path))
    assert torch.equal(torch.load(path, weights_only=True)['state_dict']['w'], torch.arange(3.0))
    assert os.listdir(tmp_path) == ['epoch_1.pth']  # no temporary file left


def test_interrupted_write_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / 'latest.pth'
    backend = get_file_backend(str(path))
    backend.put(b'complete old checkpoint', str(path))

    def killed(fd):
        raise KeyboardInterrupt('killed before the data reached the disk')

    monkeypatch.setattr(os, 'fsync', killed)
    with pytest.raises(KeyboardInterrupt):
        backend.put(b'new checkpoint that never completes', str(path))
    assert path.read_bytes() == b'complete old checkpoint'
    assert os.listdir(tmp_path) == ['latest.pth']


def test_written_file_has_the_permissions_of_a_plain_open(tmp_path):
    old = os.umask(0o022)
    try:
        save_checkpoint({'state_dict': {}}, str(tmp_path / 'ckpt.pth'))
    finally:
        os.umask(old)
    # other users of a shared work dir must be able to read checkpoints (mkstemp would create 0600 files)
    assert stat.S_IMODE(os.stat(tmp_path / 'ckpt.pth').st_mode) == 0o644
