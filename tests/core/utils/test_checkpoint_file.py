"""Checkpoint files that cannot be loaded are named with what was expected; loading stays weights_only."""
import collections
import os.path as osp

import pytest
import torch

from plugins.core.utils.checkpoint import (CheckpointFileError, check_checkpoint_content,
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


# --------------------------------------------------------------------- files that are no checkpoint at all (issue 33)
HTML_PAGE = b'<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head><body>try again</body></html>\n'


def _not_a_checkpoint(tmp_path, kind):
    """A failed download: random bytes, or the HTML error page a proxy returned instead of the file."""
    path = tmp_path / f'{kind}.pth'
    path.write_bytes(HTML_PAGE if kind == 'html' else torch.Generator().manual_seed(0).seed().to_bytes(8, 'little')
                     * 512)
    return str(path)


def _runner_loader(path):
    """What ``Runner.load_checkpoint`` / ``Runner.resume`` call (``load_from``, ``--resume``), patches applied as
    the configs' custom_imports apply them."""
    from mmengine.runner.checkpoint import _load_checkpoint
    from plugins.core.utils import apply_mmengine_patches
    apply_mmengine_patches()
    return _load_checkpoint(path, map_location='cpu')


def _load_model(path):
    from plugins.core.apis import load_model
    from tests.helpers import REPO
    return load_model(f'{REPO}/configs/demo/baseline_market1501_demo.py', path)


def _tool(name, *argv):
    from tests.helpers import REPO, load_tool
    return lambda path: load_tool(name).main([a.format(path=path, repo=REPO) for a in argv])


READERS = {
    'check_checkpoint_file': check_checkpoint_file,
    'read_checkpoint': read_checkpoint,
    'Runner load_from / --resume': _runner_loader,
    'plugins.core.apis.load_model': _load_model,
    'tools/test.py': _tool('test', '{repo}/configs/demo/baseline_market1501_demo.py', '{path}', '--work-dir',
                           '{path}.work'),
    'tools/train.py --resume': _tool('train', '{repo}/configs/demo/baseline_market1501_demo.py', '--work-dir',
                                     '{path}.work', '--resume', '{path}'),
    'tools/search.py': _tool('search', '{repo}/configs/demo/baseline_market1501_demo.py', '{path}', '--gallery',
                             '{repo}', '--query', '{repo}/README.md', '--out', '{path}.work'),
    'tools/model_converters/irra_to_mmreid.py': _tool('model_converters/irra_to_mmreid', '{path}', '{path}.out'),
}


@pytest.mark.parametrize('kind', ['random', 'html'])
@pytest.mark.parametrize('reader', list(READERS))
def test_a_file_that_is_no_checkpoint_is_named_so_by_every_reader(tmp_path, reader, kind):
    """Every path that opens a checkpoint says what the file is, never torch's ``weights_only=False`` advice."""
    path = _not_a_checkpoint(tmp_path, kind)
    size = len(open(path, 'rb').read())
    with pytest.raises(Exception) as err:
        READERS[reader](path)
    message = str(err.value)
    assert f'{path}: not a PyTorch checkpoint ({size} bytes; starts with ' in message, message
    assert 'damaged or not downloaded completely?' in message, message
    if kind == 'html':
        assert '<!DOCTYPE html>' in message, message
    assert 'weights_only=False' not in message and 'file an issue' not in message.lower(), message
    assert not osp.exists(f'{path}.work') and not osp.exists(f'{path}.out')  # refused before anything was written
