"""Checkpoint files that cannot be loaded are named with what was expected; loading stays weights_only."""
import collections

import pytest
import torch

from plugins.core.utils.checkpoint_file import (CheckpointFileError, check_checkpoint_content,
                                                check_checkpoint_file, read_checkpoint)


def test_missing_file_lists_the_checkpoints_next_to_it(tmp_path):
    (tmp_path / 'epoch_1.pth').write_bytes(b'x')
    with pytest.raises(FileNotFoundError, match=r'epoch_2.pth does not exist; .* holds epoch_1.pth'):
        check_checkpoint_file(str(tmp_path / 'epoch_2.pth'))


def test_empty_file_is_refused(tmp_path):
    (tmp_path / 'epoch_1.pth').write_bytes(b'')
    with pytest.raises(CheckpointFileError, match=r'epoch_1.pth is empty \(0 bytes\)'):
        check_checkpoint_file(str(tmp_path / 'epoch_1.pth'))


@pytest.mark.parametrize('content,fragment', [([torch.zeros(2)], 'a list of 1 items'),
                                              ({'state_dict': torch.zeros(2)}, 'whose state_dict is a torch.Tensor')])
def test_content_without_a_state_dict_is_refused(content, fragment):
    with pytest.raises(CheckpointFileError, match=fragment):
        check_checkpoint_content(content, 'w.pth')
    check_checkpoint_content(collections.OrderedDict(w=torch.zeros(2)), 'w.pth')  # a plain state dict is fine


class Payload:
    """Pickled as a global that torch.load(weights_only=True) refuses."""


def test_refused_pickle_names_the_file_and_never_advises_weights_only_false(tmp_path):
    torch.save({'state_dict': {}, 'payload': Payload()}, tmp_path / 'pickled.pth')
    with pytest.raises(CheckpointFileError) as err:
        read_checkpoint(str(tmp_path / 'pickled.pth'))
    message = str(err.value)
    assert str(tmp_path / 'pickled.pth') in message and 'Unsupported global' in message
    assert 'weights_only=False' not in message
