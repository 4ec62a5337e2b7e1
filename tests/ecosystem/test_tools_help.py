"""``--help`` of every tool answers without importing torch (issue 33: `tools/train.py --help` took 5.7-8.5 s,
the whole stack was imported first). Checked by the modules loaded, not by a time."""
import glob
import os
import os.path as osp
import subprocess
import sys

import pytest

from tests.helpers import REPO

TOOLS = sorted(osp.relpath(p, REPO) for p in glob.glob(osp.join(REPO, 'tools', '*.py'))
               + glob.glob(osp.join(REPO, 'tools', 'model_converters', '*.py')))
PROBE = '''
import runpy, sys
sys.argv = [{tool!r}, '--help']
try:
    runpy.run_path({tool!r}, run_name='__main__')
except SystemExit as e:
    code = e.code
heavy = sorted(name for name in ('torch', 'mmpretrain', 'plugins') if name in sys.modules)
print('HEAVY', ','.join(heavy) or '-', 'EXIT', code)
'''


def test_every_tool_is_listed():
    assert len(TOOLS) >= 12 and 'tools/train.py' in TOOLS and 'tools/test.py' in TOOLS


@pytest.mark.parametrize('tool', TOOLS)
def test_help_answers_without_importing_torch(tool):
    proc = subprocess.run([sys.executable, '-c', PROBE.format(tool=tool)], cwd=REPO, capture_output=True, text=True,
                          timeout=300, env=dict(os.environ, PYTHONPATH=REPO))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'usage:' in proc.stdout, proc.stdout[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == 'HEAVY - EXIT 0', proc.stdout[-500:]
