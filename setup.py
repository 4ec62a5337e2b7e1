"""Kept minimal: metadata lives in setup.cfg (``pip install -e .`` / ``mim install -e .``).

OpenMMLab's MIM (``mim search mmreid-plugins``, ``mim train mmreid-plugins CFG``) reads an installed package's
``<package>/.mim/``: ``model-index.yml``, the metafiles and configs it lists, and the tools. As mmpretrain's
``add_mim_extension``, they are put there at build time from the repository root, never committed: copies in the
wheel (``build_py``) and in the sdist (its release tree), symbolic links into the source tree for an editable
install (``plugins/.mim`` is git-ignored), so the paths of ``model-index.yml`` (``configs/<method>/metafile.yml``)
and of the metafiles (``configs/...py``) resolve inside ``plugins/.mim``.
"""
import os
import os.path as osp
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

REPO = osp.dirname(osp.abspath(__file__))
PACKAGE = 'plugins'
#: what MIM reads, relative to the repository root and to ``plugins/.mim``
MIM_FILES = ('model-index.yml', 'configs', 'tools')
_SKIP = shutil.ignore_patterns('__pycache__', '*.pyc')


def _remove(path):
    if osp.islink(path) or osp.isfile(path):
        os.remove(path)
    elif osp.isdir(path):
        shutil.rmtree(path)


def add_mim_files(mim_dir, link=False):
    """Put the MIM files of the repository root into ``mim_dir``: copies, or relative symbolic links (``link``)."""
    os.makedirs(mim_dir, exist_ok=True)
    for name in MIM_FILES:
        source, target = osp.join(REPO, name), osp.join(mim_dir, name)
        if not osp.exists(source):
            raise FileNotFoundError(f'setup.py: {source} is missing: the MIM files ({", ".join(MIM_FILES)}) are '
                                    f'taken from the repository root')
        _remove(target)
        if link:
            os.symlink(osp.relpath(source, mim_dir), target)
        elif osp.isdir(source):
            shutil.copytree(source, target, ignore=_SKIP)
        else:
            shutil.copyfile(source, target)


class BuildPyWithMim(build_py):
    """``build_py`` that adds ``plugins/.mim``: copies into the build (wheel), links in the source (editable)."""

    def run(self):
        super().run()
        if getattr(self, 'editable_mode', False):
            add_mim_files(osp.join(REPO, PACKAGE, '.mim'), link=True)
        else:
            add_mim_files(osp.join(self.build_lib, PACKAGE, '.mim'))


class SdistWithMim(sdist):
    """``sdist`` whose release tree holds ``plugins/.mim`` (copies) beside the root files it is made from."""

    def make_release_tree(self, base_dir, files):
        super().make_release_tree(base_dir, files)
        add_mim_files(osp.join(base_dir, PACKAGE, '.mim'))


setup(cmdclass=dict(build_py=BuildPyWithMim, sdist=SdistWithMim))
