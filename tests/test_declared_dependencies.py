"""The README's two set-up lines, ``.ci/run`` and the declared dependencies agree.

CI once passed only because the development machine had test packages installed by hand: the README's test line
failed in a fresh environment (``pytest: error: unrecognized arguments: -n 2``). These checks fail when a module
imported by the tests or the plugin, or a pytest plugin the README's test line needs, is not provided by what
``pip install -e ".[tests]"`` installs, or when README and ``.ci/run`` drift apart.
"""
import ast
import configparser
import importlib.metadata as metadata
import os
import os.path as osp
import re
import subprocess
import sys

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.helpers import REPO

LOCAL_PACKAGES = {'plugins', 'tests'}
#: optional imports the suite never reaches, each behind an option that names what to install
OPTIONAL_MODULES = {
    'pyximport': "tools/benchmark.py --rank-cy builds torchreid's Cython evaluator: needs Cython (says so)",
}


def readme_setup_lines():
    """The two commands of the README's first code block (comments dropped)."""
    with open(osp.join(REPO, 'README.md')) as f:
        block = re.search(r'```bash\n(.*?)```', f.read(), re.S).group(1)
    lines = [line.split('#')[0].strip() for line in block.splitlines() if line.strip()]
    assert len(lines) >= 2, f'README.md: expected two set-up commands in the first ```bash block, got {lines}'
    return lines[0], lines[1]


def ci_script():
    with open(osp.join(REPO, '.ci', 'run')) as f:
        return [line.strip() for line in f if line.strip() and not line.lstrip().startswith('#')]


def requirement_files():
    """The requirement files of ``install_requires`` and of the ``tests`` extra, as setup.cfg declares them
    (``file:`` directives, several files separated by commas)."""
    cfg = configparser.ConfigParser()
    cfg.read(osp.join(REPO, 'setup.cfg'))
    declared = {'install_requires': cfg['options']['install_requires'],
                'tests': cfg['options.extras_require']['tests']}
    files = []
    for key, value in declared.items():
        match = re.fullmatch(r'file:\s*(.+)', value.strip())
        assert match, f'setup.cfg: `{key}` must read its list from requirements/*.txt (file: ...), got {value!r}'
        files += [osp.join(REPO, name.strip()) for name in match.group(1).split(',')]
    return files


def declared_requirements():
    names = set()
    for path in requirement_files():
        with open(path) as f:
            for line in f:
                line = line.split('#')[0].strip()
                if line:
                    names.add(canonicalize_name(Requirement(line).name))
    return names


def installed_closure(names):
    """The declared distributions and everything they require (without extras), as installed here."""
    seen, todo = set(), list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue  # reported by test_declared_requirements_are_installed
        for text in requires:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({'extra': ''}):
                todo.append(canonicalize_name(req.name))
    return seen


def imported_top_level_modules(folder):
    """{module: first file importing it} for the absolute imports of every .py file under ``folder``."""
    modules = {}
    for path in sorted(_python_files(folder)):
        with open(path) as f:
            tree = ast.parse(f.read(), path)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                modules.setdefault(name.split('.')[0], osp.relpath(path, REPO))
    return modules


def _python_files(folder):
    for dirpath, _, files in os.walk(osp.join(REPO, folder)):
        yield from (osp.join(dirpath, f) for f in files if f.endswith('.py'))


def local_module_names():
    """Modules that live in the repository itself (packages and the test helpers beside test files)."""
    names = set(LOCAL_PACKAGES)
    for folder in ('tests', 'plugins'):
        names.update(osp.splitext(osp.basename(p))[0] for p in _python_files(folder))
    return names


def test_readme_lines_and_ci_agree():
    demo_line, test_line = readme_setup_lines()
    install = test_line.split('&&')[0].strip()
    assert install == 'pip install -c requirements/lock.txt -e ".[tests]"', \
        f'README test line must start with the install step (exact versions from the lock): {test_line}'
    assert demo_line.split('&&')[0].strip() == install, 'README: both set-up lines must install the same way'
    lines = ci_script()
    assert lines[-1] == test_line, f'.ci/run must end with exactly the README test line:\n{lines[-1]}\n{test_line}'
    venv = next((i for i, line in enumerate(lines) if re.search(r'python3? -m venv ', line)), None)
    activate = next((i for i, line in enumerate(lines) if re.match(r'(source|\.) .*bin/activate', line)), None)
    assert venv is not None and activate is not None and venv < activate < len(lines) - 1, \
        '.ci/run must create a new virtual environment and activate it before the README test line'
    assert any(line.startswith('trap ') and 'rm -rf' in line for line in lines), \
        '.ci/run must remove its temporary environment on exit'


def test_declared_requirements_are_installed():
    missing = [name for name in declared_requirements() if not _installed(name)]
    assert not missing, f'declared but not installed here (run pip install -e ".[tests]"): {missing}'


def _installed(name):
    try:
        metadata.distribution(name)
        return True
    except metadata.PackageNotFoundError:
        return False


def test_every_imported_module_is_declared():
    provided = installed_closure(declared_requirements())
    module_dists = metadata.packages_distributions()
    local = local_module_names()
    undeclared = []
    for folder in ('tests', 'plugins'):
        for module, where in imported_top_level_modules(folder).items():
            if module in sys.stdlib_module_names or module in local or module in OPTIONAL_MODULES:
                continue
            dists = {canonicalize_name(d) for d in module_dists.get(module, [])}
            if not dists & provided:
                undeclared.append(f'{module} (imported in {where}; installed by {sorted(dists) or "nothing"})')
    assert not undeclared, 'imported but not provided by the files of install_requires + the tests extra:\n' + \
        '\n'.join(undeclared)


def test_readme_pytest_options_need_only_declared_plugins(tmp_path):
    """The README's pytest options parse with every undeclared pytest plugin switched off (e.g. ``-n 2`` needs
    pytest-xdist in the tests extra: were it only installed by hand, this fails as on a fresh machine)."""
    provided = installed_closure(declared_requirements())
    disabled = []
    for ep in metadata.entry_points(group='pytest11'):
        if canonicalize_name(ep.dist.name) not in provided:
            disabled += ['-p', f'no:{ep.name}']
    _, test_line = readme_setup_lines()
    args = test_line.split('python -m pytest', 1)[1].split()
    args = [str(tmp_path) if a == 'tests' else a for a in args]  # same options, a tiny test tree
    (tmp_path / 'pytest.ini').write_text('[pytest]\n')  # not the repository's setup.cfg
    (tmp_path / 'test_one.py').write_text('def test_one():\n    assert True\n')
    proc = subprocess.run([sys.executable, '-m', 'pytest', *args, *disabled, '-p', 'no:cacheprovider', '-q'],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and '1 passed' in proc.stdout, \
        f'README test options with only declared plugins ({disabled}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}'
