"""The mmengine patches are applied by one explicit function, only where asked for, and only on the mmengine
versions they were written for."""
import json
import os
import subprocess
import sys

import pytest

from tests.helpers import REPO, demo_config

PROBE = '''
import json, sys
{setup}
from mmengine.fileio import get_file_backend
from mmengine.logging import HistoryBuffer
print(json.dumps(dict(
    history_buffer=HistoryBuffer.__getstate__.__module__,
    local_backend=type(get_file_backend('/some/where/epoch_1.pth')).__name__)))
'''


def probe(setup):
    """Which patches are in effect after ``setup`` ran in a fresh interpreter."""
    proc = subprocess.run([sys.executable, '-c', PROBE.format(setup=setup)], cwd=REPO, capture_output=True,
                          text=True, timeout=300, env=dict(os.environ, PYTHONPATH=REPO))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


UNPATCHED = dict(history_buffer='mmengine.logging.history_buffer', local_backend='LocalBackend')
PATCHED = dict(history_buffer='plugins.core.utils.checkpoint', local_backend='AtomicLocalBackend')


@pytest.mark.parametrize('setup', ['import plugins.core.evaluation', 'import plugins',
                                   'from plugins.core.utils import apply_mmengine_patches'])
def test_importing_patches_nothing(setup):
    assert probe(setup) == UNPATCHED


def test_the_function_applies_every_patch():
    assert probe('from plugins.core.utils import apply_mmengine_patches; apply_mmengine_patches()') == PATCHED


def test_a_config_applies_them_through_custom_imports():
    # what every launcher does first (mmpretrain's tools/train.py, mim, Runner.from_cfg(Config.fromfile(...)))
    # any config (each inherits the custom_imports of configs/_base_): the word-vocabulary demo's, whose hook
    # writes the vocabulary next to the checkpoints
    setup = f'from mmengine.config import Config; Config.fromfile({demo_config(hook="WordVocabularyHook")!r})'
    assert probe(setup) == PATCHED


@pytest.mark.parametrize('version', ['0.9.1', '0.11.0', '1.0.0'])
def test_other_mmengine_versions_fail_loudly(monkeypatch, version):
    import mmengine
    from plugins.core.utils import apply_mmengine_patches
    monkeypatch.setattr(mmengine, '__version__', version)
    with pytest.raises(RuntimeError, match=f'mmengine {version}.*0.10'):
        apply_mmengine_patches()
