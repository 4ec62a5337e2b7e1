"""Shared fixtures of the end-to-end tests: demo data generated once per session, tool runners."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest

REPO = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))


@pytest.fixture(scope='session')
def demo_root(tmp_path_factory):
    """A working directory holding ``data/demo`` (every layout), as the demo configs expect."""
    root = tmp_path_factory.mktemp('demo_cwd')
    subprocess.run([sys.executable, osp.join(REPO, 'tools', 'make_demo_data.py'), str(root / 'data' / 'demo')],
                   check=True, capture_output=True)
    return root


def run_tool(cwd, *args, timeout=900):
    """Run ``python tools/<args>`` (or a shell script) in ``cwd``; fail with its output on error."""
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get('PYTHONPATH', ''),
               OMP_NUM_THREADS='1')
    cmd = ['bash'] + list(args) if args[0].endswith('.sh') else [sys.executable] + list(args)
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f'{" ".join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n'
                             f'{proc.stderr[-6000:]}')
    return proc


def read_scalars(work_dir):
    """Records of mmengine's ``vis_data/scalars.json`` (one JSON object per logged step or epoch)."""
    found = []
    for dirpath, _, files in os.walk(work_dir):
        if 'scalars.json' in files and dirpath.endswith('vis_data'):
            found.append(osp.join(dirpath, 'scalars.json'))
    assert found, f'no vis_data/scalars.json under {work_dir}'
    records = []
    for path in sorted(found):
        with open(path) as f:
            records.extend(json.loads(line) for line in f if line.strip())
    return records
