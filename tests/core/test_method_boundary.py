"""plugins/core and tools/ know no method: they import no method package, name no class of one in code and load
no tool with importlib (docstrings and comments may mention the methods as examples)."""
import ast
import functools
import importlib
import inspect
import os
import os.path as osp
import pkgutil
import re

import pytest
from mmengine.config import Config
from mmpretrain.registry import HOOKS, MODELS

import plugins
from plugins.core.metafile import load_model_index
from tests.helpers import REPO, config_dicts

PLUGINS_DIR = osp.dirname(plugins.__file__)
#: every package of plugins/ but core is a method package
METHOD_PACKAGES = sorted(name for name in os.listdir(PLUGINS_DIR)
                         if name != 'core' and osp.isfile(osp.join(PLUGINS_DIR, name, '__init__.py')))


@functools.lru_cache(maxsize=None)
def method_class_names():
    """Names of the classes defined in the method packages (models, losses, hooks, modules)."""
    names = set()
    for package in METHOD_PACKAGES:
        root = importlib.import_module(f'plugins.{package}')
        modules = [root] + [importlib.import_module(info.name)
                            for info in pkgutil.walk_packages(root.__path__, f'plugins.{package}.')]
        for module in modules:
            names.update(name for name, obj in vars(module).items()
                         if inspect.isclass(obj) and obj.__module__.startswith(f'plugins.{package}'))
    return frozenset(names)


#: mmpretrain's convention: ``tools/model_converters/<model>_to_<format>.py`` converts one model family's
#: official checkpoints, so a converter is about its method by definition (e.g. irra_to_mmreid.py)
PER_METHOD_TOOLS = (osp.join(REPO, 'tools', 'model_converters'), )


def checked_files():
    for top in (osp.join(PLUGINS_DIR, 'core'), osp.join(REPO, 'tools')):
        for folder, _, files in os.walk(top):
            if not folder.startswith(PER_METHOD_TOOLS):
                yield from (osp.join(folder, f) for f in sorted(files) if f.endswith('.py'))


def module_name(path):
    return osp.splitext(osp.relpath(path, REPO))[0].replace(os.sep, '.')


def imported_modules(tree, path):
    """Absolute names of every module an ``import`` / ``from ... import`` of ``path`` reaches."""
    package = module_name(path).rsplit('.', 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ''
            if node.level:
                parent = package.rsplit('.', node.level - 1)[0] if node.level > 1 else package
                base = f'{parent}.{base}' if base else parent
            yield base
            yield from (f'{base}.{alias.name}' for alias in node.names)


def docstrings(tree):
    nodes = [tree] + [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                                  ast.ClassDef))]
    for node in nodes:
        if node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant):
            yield node.body[0].value


def code_names_and_strings(tree):
    """Identifiers (names, attributes, definitions, keywords) and string constants other than docstrings."""
    skip = {id(node) for node in docstrings(tree)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            yield node.id
        elif isinstance(node, ast.Attribute):
            yield node.attr
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield node.name
        elif isinstance(node, ast.keyword) and node.arg:
            yield node.arg
        elif isinstance(node, ast.alias):
            yield node.asname or node.name
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            yield node.value


def _package_of(cls):
    """The method package (``plugins.<package>``) that defines ``cls``, or None."""
    parts = cls.__module__.split('.')
    return parts[1] if parts[0] == 'plugins' and len(parts) > 1 and parts[1] in METHOD_PACKAGES else None


@pytest.mark.all_methods
def test_the_method_packages_are_found():
    """The packages are the metafiles' ``Code: URL: plugins/<package>``, and the classes found in them include
    every model, hook and model component their published configs name."""
    methods = load_model_index(REPO)
    declared = {m.code_url.split('/', 1)[1] for m in methods if (m.code_url or '').startswith('plugins/')}
    assert declared == set(METHOD_PACKAGES), 'a method package is the `Code: URL:` of exactly one metafile'
    names = method_class_names()
    for method in methods:
        for model in method.models:
            cfg = Config.fromfile(osp.join(REPO, model.config))
            # the model class is its metafile's package's
            assert _package_of(MODELS.get(cfg.model.type)) == method.code_url.split('/', 1)[1], model.config
            used = [MODELS.get(d['type']) for d in config_dicts(cfg.model, lambda d: isinstance(d.get('type'), str))]
            used += [HOOKS.get(h['type']) for h in cfg.get('custom_hooks') or []]
            missed = {cls.__name__ for cls in used if cls is not None and _package_of(cls)} - names
            assert not missed, f'{model.config}: classes of method packages not found: {sorted(missed)}'


@pytest.mark.all_methods
@pytest.mark.parametrize('path', list(checked_files()), ids=lambda p: osp.relpath(p, REPO))
def test_core_and_tools_know_no_method(path):
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    method_modules = tuple(f'plugins.{p}' for p in METHOD_PACKAGES)
    bad_imports = [m for m in imported_modules(tree, path) if m in method_modules or m.startswith(
        tuple(f'{m}.' for m in method_modules))]
    assert not bad_imports, f'{path} imports a method package: {bad_imports}'
    class_names = method_class_names()
    word = re.compile(r'\b(' + '|'.join(sorted(map(re.escape, class_names), key=len, reverse=True)) + r'|'
                      + '|'.join(re.escape(m) for m in method_modules) + r')\b')
    named = sorted({hit for text in code_names_and_strings(tree) for hit in word.findall(text)})
    assert not named, f'{path} names method classes / packages in its code: {named}'
    assert 'spec_from_file_location' not in set(code_names_and_strings(tree)), f'{path} loads a file as a module'


def test_the_check_catches_what_it_looks_for(tmp_path):
    """The same checks on a file that does everything they forbid."""
    package, other = METHOD_PACKAGES[0], sorted(method_class_names())[-1]  # any method package, any class
    source = (f'"""Docstrings may mention {other}."""\nimport importlib.util\nfrom plugins.{package}.model import x\n'
              f"if type(model).__name__ == '{other}':\n    spec = importlib.util.spec_from_file_location('t', 'x')\n")
    path = osp.join(PLUGINS_DIR, 'core', 'fake.py')
    tree = ast.parse(source)
    assert f'plugins.{package}.model' in set(imported_modules(tree, path))
    texts = list(code_names_and_strings(tree))
    assert other in texts and 'spec_from_file_location' in texts
    assert texts.count(other) == 1  # the docstring is left out
    relative = ast.parse(f'from ...{package} import model\n')
    assert f'plugins.{package}' in set(imported_modules(relative, osp.join(PLUGINS_DIR, 'core', 'models', 'x.py')))
