"""The built package works with OpenMMLab's MIM (issue 33): the wheel and the sdist carry ``plugins/.mim/`` with
``model-index.yml``, every metafile and config it names and the tools, at paths that resolve there.

Issue 33 measured the wheel of the time: no ``model-index.yml``, no metafile, no config, and ``mim search
mmreid-plugins`` on it listed 0 of 16 models. Building a wheel without build isolation takes seconds. When openmim
is installed, ``mim search`` runs against an install of the wheel in a temporary target.
"""
import glob
import os
import os.path as osp
import shutil
import subprocess
import sys
import tarfile
import zipfile

import pytest
import yaml

from tests.helpers import REPO

MIM = 'plugins/.mim/'


def _run(*cmd, cwd=REPO, env=None):
    proc = subprocess.run(list(cmd), cwd=cwd, capture_output=True, text=True, timeout=600,
                          env={**os.environ, **(env or {})})
    assert proc.returncode == 0, f'{" ".join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n' \
                                 f'{proc.stderr[-3000:]}'
    return proc


@pytest.fixture(scope='module')
def built(tmp_path_factory):
    """The wheel's and the sdist's file lists (paths inside the package / the sdist's top folder) and the wheel."""
    out = tmp_path_factory.mktemp('dist')
    # every build from a copy of the tracked tree: no build/ or egg-info of an earlier build, nothing written here
    tree = out / 'tree'
    tracked = _run('git', 'ls-files', '-z').stdout.split('\0')
    for name in filter(None, tracked):
        os.makedirs(tree / osp.dirname(name), exist_ok=True)
        if osp.isfile(osp.join(REPO, name)):
            shutil.copy2(osp.join(REPO, name), tree / name)
    _run(sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '-q', '-w', str(out), str(tree))
    _run(sys.executable, '-c', 'from setuptools import build_meta; build_meta.build_sdist(".")', cwd=str(tree))
    # what `pip install -e .` builds: links into the source tree, not copies that would go stale
    _run(sys.executable, '-c', 'from setuptools import build_meta; build_meta.build_editable(".")', cwd=str(tree))
    names = os.listdir(tree / MIM) if osp.isdir(tree / MIM) else []
    linked = {name: osp.realpath(tree / MIM / name) for name in names if osp.islink(tree / MIM / name)}
    wheel, = glob.glob(str(out / '*.whl'))
    sdist, = glob.glob(str(tree / '*.tar.gz'))
    with zipfile.ZipFile(wheel) as z:
        wheel_files = {name: z.read(name) for name in z.namelist() if name.startswith(MIM)}
    with tarfile.open(sdist) as t:
        top = t.getnames()[0].split('/')[0]
        sdist_files = {m.name[len(top) + 1:]: t.extractfile(m).read() for m in t.getmembers() if m.isfile()}
    return dict(wheel=wheel, wheel_files=wheel_files, sdist_files=sdist_files, tree=str(tree), linked=linked)


def _index_paths(files):
    """Every path ``model-index.yml`` names (the metafiles) and every path those name (``Config``, the demo's
    ``Config``), relative to ``plugins/.mim``; and the number of models."""
    index = yaml.safe_load(files[MIM + 'model-index.yml'])
    paths, models = list(index['Import']), 0
    for metafile in index['Import']:
        meta = yaml.safe_load(files[MIM + metafile])
        for model in meta['Models']:
            models += 1
            paths.append(model['Config'])
            if model.get('Demo'):
                paths.append(model['Demo']['Config'])
    return paths, models


@pytest.mark.parametrize('kind', ['wheel', 'sdist'])
def test_the_package_carries_the_mim_files_at_paths_that_resolve_there(built, kind):
    files = built[f'{kind}_files']
    assert MIM + 'model-index.yml' in files, sorted(files)[:20]
    paths, models = _index_paths(files)
    repo_models = _index_paths({MIM + p: open(osp.join(REPO, p), 'rb').read()
                                for p in ['model-index.yml'] + glob.glob('configs/**/*.yml', root_dir=REPO,
                                                                         recursive=True)})[1]
    assert models == repo_models >= 16
    missing = [p for p in paths if MIM + p not in files]
    assert not missing, f'{kind}: model-index.yml / metafile paths that do not resolve under {MIM}: {missing}'
    # every config and tool of the repository, byte for byte (a stale copy would be a defect)
    for name in glob.glob('configs/**/*.py', root_dir=REPO, recursive=True) + ['tools/train.py', 'tools/test.py']:
        with open(osp.join(REPO, name), 'rb') as f:
            assert files.get(MIM + name) == f.read(), name
    assert not [p for p in files if '__pycache__' in p]


def test_the_sdist_can_build_the_wheel_and_an_editable_install_links(built):
    """The sdist holds the root files its own wheel build copies (and the requirement lists setup.cfg reads);
    an editable build links ``plugins/.mim`` to the source tree."""
    for name in ('model-index.yml', 'configs/cal/metafile.yml', 'tools/train.py', 'requirements/runtime.txt'):
        assert name in built['sdist_files'], name
    tree = built['tree']
    assert built['linked'] == {name: osp.join(tree, name) for name in ('model-index.yml', 'configs', 'tools')}


def test_mim_search_lists_every_model_of_the_installed_wheel(built, tmp_path):
    """``mim search mmreid-plugins`` on an install of the wheel (needs openmim; skipped without it)."""
    pytest.importorskip('mim', reason='openmim is not installed')
    target = tmp_path / 'site'
    _run(sys.executable, '-m', 'pip', 'install', '--no-deps', '--no-index', '-q', '--target', str(target),
         built['wheel'])
    path = os.pathsep.join([str(target), os.environ.get('PYTHONPATH', '')])  # the wheel before any other copy
    proc = _run(sys.executable, '-m', 'mim', 'search', 'mmreid-plugins', cwd=str(tmp_path), env=dict(PYTHONPATH=path))
    listed = {line.split(':', 1)[1].strip() for line in proc.stdout.splitlines() if line.startswith('config id:')}
    names = {model['Name'] for models in _index_paths_models(built['wheel_files']) for model in models}
    assert len(names) >= 16 and listed == names, (sorted(names - listed), proc.stdout[-2000:])


def _index_paths_models(files):
    index = yaml.safe_load(files[MIM + 'model-index.yml'])
    return [yaml.safe_load(files[MIM + metafile])['Models'] for metafile in index['Import']]
