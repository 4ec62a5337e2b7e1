"""MMEngine checkpoints load with torch's weights_only=True; unknown pickled objects are refused."""
import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub

from plugins.core.utils import apply_mmengine_patches

apply_mmengine_patches()  # what a config's custom_imports does in a run


class _Evil:
    def __reduce__(self):
        return (print, ('this must never run',))


def test_message_hub_round_trip_with_weights_only(tmp_path):
    hub = MessageHub.get_instance('ckpt_safety_test')
    for v in (1.0, 2.0, 4.0):
        hub.update_scalar('train/loss', v)
    hub.update_info('iter_counts', np.arange(3))
    ckpt = dict(message_hub=hub.state_dict(), meta=dict(seed=np.int64(7), epoch=3, counts=np.float32(0.5)))
    path = tmp_path / 'ckpt.pth'
    torch.save(ckpt, path)
    loaded = torch.load(path, weights_only=True)
    buf = loaded['message_hub']['log_scalars']['train/loss']
    assert isinstance(buf, HistoryBuffer)
    assert buf.mean() == pytest.approx(7.0 / 3)
    assert buf.statistics('max') == 4.0
    assert loaded['meta']['seed'] == 7


def test_history_buffer_does_not_pickle_bound_methods():
    # `getattr` would be needed to unpickle bound methods; it must stay out of the pickle
    data = pickle.dumps(HistoryBuffer([1.0], [1]))
    assert b'getattr' not in data


def test_unknown_global_is_refused(tmp_path):
    path = tmp_path / 'evil.pth'
    torch.save({'x': _Evil()}, path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)
