"""requirements/lock.txt pins what a fresh machine installs, and agrees with the ranged requirements.

A new machine once failed the suite because the runtime list pinned only the OpenMMLab stack: numpy, pillow,
opencv, transformers, ... came at whatever version was newest that day. README's set-up lines and ``.ci/run``
install with ``-c requirements/lock.txt``; these checks fail when the lock misses a package that
``pip install -e ".[tests]"`` brings in (directly or transitively), when a locked version lies outside a range that
this project or one of its dependencies declares (e.g. a lower bound raised in requirements/*.txt without a
refreshed lock), or when this environment was not installed from the lock.
"""
import importlib.metadata as metadata
import os.path as osp
import re

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.helpers import REPO
from tests.test_declared_dependencies import ci_script, readme_setup_lines

LOCK = osp.join(REPO, 'requirements', 'lock.txt')
PROJECT = 'mmreid-plugins'
#: the extras README's set-up lines install
EXTRAS = ('tests',)
INSTALL = 'pip install -c requirements/lock.txt -e ".[tests]"'


def read_lock(path=LOCK):
    """{canonical name: Version} of the ``name==version`` lines of a lock file (comments and blanks skipped)."""
    pins = {}
    with open(path) as f:
        for number, line in enumerate(f, 1):
            line = line.split('#')[0].strip()
            if not line:
                continue
            match = re.fullmatch(r'([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)', line)
            assert match, f'{path}:{number}: expected `name==version`, got {line!r}'
            pins[canonicalize_name(match.group(1))] = Version(match.group(2))
    return pins


def requirement_edges(root=PROJECT, extras=EXTRAS):
    """Every (requirer, Requirement) reached from ``root[extras]`` through the installed metadata, markers
    evaluated for this interpreter and the extras each requirement asks for."""
    edges, seen, todo = [], set(), [(canonicalize_name(root), frozenset(extras))]
    while todo:
        name, wanted = todo.pop()
        if (name, wanted) in seen:
            continue
        seen.add((name, wanted))
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue  # reported by test_lock_covers_every_installed_package (not installed = not locked check)
        for text in requires:
            req = Requirement(text)
            if req.marker is not None and not any(req.marker.evaluate({'extra': e}) for e in ('', *wanted)):
                continue
            edges.append((name, req))
            todo.append((canonicalize_name(req.name), frozenset(req.extras)))
    return edges


def missing_from_lock(pins, edges):
    return sorted({canonicalize_name(req.name) for _, req in edges} - set(pins))


def outside_declared_ranges(pins, edges):
    return sorted(f'{requirer} requires {req}, lock has {pins[canonicalize_name(req.name)]}'
                  for requirer, req in edges
                  if canonicalize_name(req.name) in pins
                  and not req.specifier.contains(pins[canonicalize_name(req.name)], prereleases=True))


def test_setup_lines_install_from_the_lock():
    demo_line, test_line = readme_setup_lines()
    for line in (demo_line, test_line):
        assert line.split('&&')[0].strip() == INSTALL, f'README set-up line must install with the lock: {line}'
    assert ci_script()[-1] == test_line


def test_lock_covers_every_installed_package():
    missing = missing_from_lock(read_lock(), requirement_edges())
    assert not missing, (f'{LOCK} misses packages that `pip install -e ".[tests]"` installs: {missing}; '
                         'refresh it with `bash tools/update_lock.sh`')


def test_locked_versions_satisfy_every_declared_range():
    bad = outside_declared_ranges(read_lock(), requirement_edges())
    assert not bad, f'{LOCK} is not installable with the declared ranges:\n' + '\n'.join(bad)


def test_this_environment_is_the_lock():
    """The suite judges the versions the lock names (a hand-upgraded package would test something else)."""
    pins, differ = read_lock(), []
    for name in sorted({canonicalize_name(req.name) for _, req in requirement_edges()} & set(pins)):
        installed = Version(metadata.version(name))
        if installed != pins[name]:
            differ.append(f'{name}: installed {installed}, locked {pins[name]}')
    assert not differ, 'installed versions differ from requirements/lock.txt (reinstall with ' \
                       f'`{INSTALL}`):\n' + '\n'.join(differ)


def test_checks_catch_a_missing_package_and_a_raised_lower_bound(tmp_path):
    """The two checks above on a lock with a transitive package dropped and on a lower bound above the lock."""
    edges = requirement_edges()
    pins = read_lock()
    transitive = {canonicalize_name(req.name) for requirer, req in edges if requirer != canonicalize_name(PROJECT)}
    dropped = sorted(transitive)[0]
    lines = [line for line in open(LOCK) if canonicalize_name(line.split('==')[0].strip()) != dropped]
    (tmp_path / 'lock.txt').write_text(''.join(lines))
    assert missing_from_lock(read_lock(tmp_path / 'lock.txt'), edges) == [dropped]

    numpy = pins['numpy']
    raised = edges + [(PROJECT, Requirement(f'numpy>={numpy.major + 1}'))]
    assert outside_declared_ranges(pins, raised) == [f'{PROJECT} requires numpy>={numpy.major + 1}, lock has {numpy}']


@pytest.mark.parametrize('line', ['numpy>=2', 'numpy', '-e .'])
def test_lock_lines_are_exact_pins(tmp_path, line):
    (tmp_path / 'lock.txt').write_text(line + '\n')
    with pytest.raises(AssertionError, match='expected `name==version`'):
        read_lock(tmp_path / 'lock.txt')
