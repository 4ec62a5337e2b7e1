"""``--cfg-options`` of the tools (parsing, checks, merge) and the preparation of a config used without a Runner."""
import argparse
import ast
import difflib
import inspect
import os.path as osp

from mmengine.config import Config, ConfigDict, DictAction

#: how to write ``--cfg-options`` values, quoted by the parsing errors
OPTION_SYNTAX = ('write key=value, a list as key=[a,b] or key=a,b, a tuple as key=(a,b); quote an option that holds '
                 'spaces or brackets in the shell: --cfg-options "data_root=/data/my set" "key=[1,2]"')
_CLOSING = {'[': ']', '(': ')'}
_DEPTH_STEP = {'[': 1, '(': 1, ']': -1, ')': -1}


def _bracket_error(text):
    """Why ``text`` has unbalanced brackets (``'[' at position 0 is never closed``), or None."""
    stack = []
    for pos, char in enumerate(text):
        if char in _CLOSING:
            stack.append((char, pos))
        elif char in ')]':
            if not stack or _CLOSING[stack[-1][0]] != char:
                return f"'{char}' at position {pos} closes nothing"
            stack.pop()
    return f"'{stack[-1][0]}' at position {stack[-1][1]} is never closed" if stack else None


def _split_top_level(text):
    """``'1,(2,3),a'`` -> ``['1', '(2,3)', 'a']``: split at the commas outside brackets."""
    items, depth, start = [], 0, 0
    for pos, char in enumerate(text):
        depth += _DEPTH_STEP.get(char, 0)
        if char == ',' and depth == 0:
            items.append(text[start:pos])
            start = pos + 1
    items.append(text[start:])
    return items[:-1] if not items[-1].strip() else items  # `[1,2,]` and `[]`


def _closes_at_end(text):
    """Whether the bracket opening ``text`` is the one its last character closes (``[1],[2]``: no)."""
    depth = 0
    for pos, char in enumerate(text):
        depth += _DEPTH_STEP.get(char, 0)
        if depth == 0:
            return pos == len(text) - 1
    return False


def parse_option_value(text):
    """Parse the value of a ``key=value`` option as MMEngine's ``DictAction`` does, but keep spaces.

    ``DictAction`` deletes every space of a value (``data_root=/data/my set`` becomes ``/data/myset``). Here each
    scalar keeps its inner spaces and loses only the spaces around it (``[1, 2]`` is still ``[1, 2]``); a value in
    quotes is a string as written (``'"a,b"'`` -> ``'a,b'``, no list). Numbers, ``true``/``false``, ``None``,
    lists ``[a,b]`` / ``a,b`` and tuples ``(a,b)`` are read as ``DictAction`` reads them.

    Args:
        text (str): the text after the first ``=``.

    Returns:
        int | float | bool | str | list | tuple | None: the value.

    Raises:
        ValueError: unbalanced brackets; says where.
    """
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in '\'"':
        return text[1:-1]
    problem = _bracket_error(text)
    if problem:
        raise ValueError(f'unbalanced brackets: {problem}')
    if text[:1] in _CLOSING and text[-1:] == _CLOSING[text[0]] and _closes_at_end(text):
        values = [parse_option_value(item) for item in _split_top_level(text[1:-1])]
        return tuple(values) if text[0] == '(' else values
    if len(_split_top_level(text)) > 1:
        return [parse_option_value(item) for item in _split_top_level(text)]
    return DictAction._parse_int_float_bool(text)


class CfgOptionsAction(argparse.Action):
    """``--cfg-options key=value ...`` of this repository's tools: MMEngine's ``DictAction`` with plain errors.

    Values are read by :func:`parse_option_value` (spaces kept). An entry without ``=`` (the second half of an
    unquoted value with a space) and unbalanced brackets are usage errors naming the option and the syntax,
    instead of a ``ValueError`` / ``AssertionError`` traceback.
    """

    def __call__(self, parser, namespace, values, option_string=None):
        options = dict(getattr(namespace, self.dest, None) or {})
        for entry in values or []:
            if '=' not in entry:
                raise argparse.ArgumentError(
                    self, f'`{entry}` is not key=value (an unquoted value with a space is split by the shell into '
                          f'two entries); {OPTION_SYNTAX}')
            key, text = entry.split('=', maxsplit=1)
            try:
                options[key] = parse_option_value(text)
            except ValueError as e:
                raise argparse.ArgumentError(self, f'{entry}: {e}; {OPTION_SYNTAX}') from None
        setattr(namespace, self.dest, options)


def _lookup(cfg, dotted_key):
    """Walk ``a.b.0.c`` through dicts/lists; return (found, parent, missing_name)."""
    node = cfg._cfg_dict if isinstance(cfg, Config) else cfg
    parts = dotted_key.split('.')
    for i, part in enumerate(parts):
        if isinstance(node, (list, tuple)) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, (dict, ConfigDict)) and part in node:
            node = node[part]
        else:
            return False, node, part, '.'.join(parts[:i])
    return True, node, None, dotted_key


#: the registries whose classes configs build (``type=...``), searched for the class of a dict
_REGISTRY_NAMES = ('MODELS', 'DATASETS', 'DATA_SAMPLERS', 'TRANSFORMS', 'HOOKS', 'METRICS', 'EVALUATOR', 'LOOPS',
                   'OPTIMIZERS', 'OPTIM_WRAPPERS', 'PARAM_SCHEDULERS', 'VISUALIZERS', 'VISBACKENDS',
                   'LOG_PROCESSORS', 'RUNNERS', 'FUNCTIONS')


def _built_class(node):
    """The class (or function) that builds the config dict ``node`` (its ``type``), or None."""
    kind = node.get('type') if isinstance(node, (dict, ConfigDict)) else None
    if not isinstance(kind, str):
        return kind if callable(kind) else None
    from mmpretrain import registry
    for name in _REGISTRY_NAMES:
        found = getattr(registry, name, None)
        try:
            built = found.get(kind) if found is not None else None
        except Exception:  # a scope that is not importable here: not this registry
            built = None
        if built is not None:
            return built
    return None


def accepted_arguments(built):
    """The keyword arguments ``built`` (a class or a function) accepts, or None when it takes any (``**kwargs`` that
    reach no closed signature). A class's ``**kwargs`` are followed through its bases' ``__init__`` (they are
    usually passed on), up to ``torch.nn.Module`` / ``object``, which take none."""
    import torch
    functions = [c.__dict__['__init__'] for c in built.__mro__ if '__init__' in c.__dict__ and
                 c not in (torch.nn.Module, object)] if inspect.isclass(built) else [built]
    names = set()
    for function in functions:
        try:
            parameters = inspect.signature(function).parameters.values()
        except (TypeError, ValueError):  # a builtin without a signature: cannot tell
            return None
        names |= {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)} - {'self'}
        if not any(p.kind == p.VAR_KEYWORD for p in parameters):
            return names
    return None if not inspect.isclass(built) else names


def check_cfg_options(cfg, cfg_options):
    """Refuse ``--cfg-options`` keys that the config lacks, before anything is built.

    A key whose path does not exist is an error when:

    - it is a new top-level key;
    - its parent is a dict that a registered class builds (``type=...``: a model, a backbone, a data set, a hook,
      an optimizer ...) and the class takes no argument of that name (``model.hed.num_classes=10``: no ``hed``
      under ``model``, whose ``ReIDBaseline`` takes ``backbone, num_classes, ...``), for every method alike (it
      used to reach the constructor as ``TypeError: ... unexpected keyword argument`` after the work dir was
      written); an argument of the class that the config does not set is allowed
      (``default_hooks.checkpoint.max_keep_ckpts=3``);
    - an existing key at the same level is a close match (``model.num_clases`` -> ``model.num_classes``).

    Other new keys under plain dicts (``train_cfg.val_begin``) are allowed.

    Raises:
        KeyError: naming the key, where it was looked for, the close matches and the accepted names.
    """
    for key in cfg_options or {}:
        found, parent, missing, prefix = _lookup(cfg, key)
        if found:
            continue
        siblings = list(parent.keys()) if isinstance(parent, (dict, ConfigDict)) else []
        built = _built_class(parent) if prefix else None
        accepted = accepted_arguments(built) if built is not None else None
        if accepted is not None and missing in accepted:
            continue  # an argument the config leaves at its default
        known = sorted(set(siblings) | (accepted or set()))
        close = difflib.get_close_matches(missing, known, n=3, cutoff=0.75)
        if not prefix or close or accepted is not None:
            where = f'under `{prefix}`' if prefix else 'at the top level of the config'
            hint = f' Did you mean: {", ".join(prefix + "." + c if prefix else c for c in close)}?' if close else ''
            if accepted is not None:
                name = getattr(built, '__name__', str(built))
                hint += f' `{prefix}` builds {name}, which takes: {", ".join(sorted(accepted))}.'
            raise KeyError(f'--cfg-options: unknown key `{key}` (no `{missing}` {where}).{hint}')


def check_cfg_option_types(cfg, cfg_options):
    """Refuse an override whose value has another type than the config's value (``model.num_classes=abc``).

    A number or a bool in the config takes a value of the same kind: an int takes an int, a float an int or a
    float, a bool a bool; None is always accepted. Other values (strings, lists, None) take anything. Without
    this check the value reaches the model's constructor and fails deep inside torch without naming the key.

    Raises:
        TypeError: naming the key, the expected type and the config's value.
    """
    for key, value in (cfg_options or {}).items():
        found, old, _, _ = _lookup(cfg, key)
        if not found or value is None or not isinstance(old, (bool, int, float)):
            continue  # None switches a setting off (randomness.seed=None)
        accepted = (bool,) if isinstance(old, bool) else (int,) if isinstance(old, int) else (int, float)
        if not isinstance(value, accepted) or (isinstance(value, bool) and not isinstance(old, bool)):
            raise TypeError(f'--cfg-options {key}={value!r}: expected {type(old).__name__} (the config has '
                            f'{key}={old!r}), got {type(value).__name__} {value!r}')


def _datasets_of(node, path):
    """(dotted path, dataset config) of a data loader's dataset and of the datasets it wraps."""
    if isinstance(node, (list, tuple)):
        for i, item in enumerate(node):
            yield from _datasets_of(item, f'{path}.{i}')
    elif isinstance(node, dict):
        yield path, node
        for child in ('dataset', 'datasets'):
            if child in node:
                yield from _datasets_of(node[child], f'{path}.{child}')


def propagate_data_root(cfg, cfg_options):
    """Make ``--cfg-options data_root=DIR`` reach every data set that used the config's ``data_root``.

    The top-level ``data_root`` is a config variable: its value was copied into ``*_dataloader.dataset.data_root``
    when the config was read, so overriding the variable alone changed nothing. Every data set (wrapped ones
    included) whose ``data_root`` equals the config's old value gets the new one; explicit per-loader overrides
    given in the same ``--cfg-options`` are merged afterwards and win.

    Raises:
        KeyError: no data set used the config's ``data_root``; names the keys to set instead.
    """
    if not cfg_options or 'data_root' not in cfg_options or 'data_root' not in cfg:
        return
    old, new = cfg['data_root'], cfg_options['data_root']
    found = [(path, ds) for name in cfg.keys() if name.endswith('_dataloader') and isinstance(cfg[name], dict)
             for path, ds in _datasets_of(cfg[name].get('dataset'), f'{name}.dataset') if 'data_root' in ds]
    using = [(path, ds) for path, ds in found if ds['data_root'] == old]
    if not using:
        keys = ', '.join(f'{path}.data_root' for path, _ in found) or '<loader>.dataset.data_root'
        raise KeyError(f'--cfg-options data_root={new}: no data set of this config uses its data_root ({old!r}); '
                       f'set {keys} instead')
    for _, ds in using:
        ds['data_root'] = new


#: the default hooks mmengine itself switches off with ``default_hooks.<name>=None``
MMENGINE_DEFAULT_HOOKS = ('runtime_info', 'timer', 'logger', 'param_scheduler', 'checkpoint', 'sampler_seed')


def check_disabled_hooks(cfg_options):
    """Refuse ``default_hooks.<name>=None`` for a hook mmengine cannot switch off that way (it asserts).

    Raises:
        KeyError: naming the key and the setting that switches the hook off (``enable=False``).
    """
    for key, value in (cfg_options or {}).items():
        parts = key.split('.')
        if value is None and len(parts) == 2 and parts[0] == 'default_hooks' and \
                parts[1] not in MMENGINE_DEFAULT_HOOKS:
            raise KeyError(f'--cfg-options {key}=None: mmengine switches off only its own default hooks '
                           f'({", ".join(MMENGINE_DEFAULT_HOOKS)}) with None; use {key}.enable=False')


def merge_cfg_options(cfg, cfg_options):
    """Merge ``--cfg-options`` into ``cfg`` after :func:`check_cfg_options` refused likely typos and
    :func:`check_cfg_option_types` values of the wrong type; ``data_root=DIR`` reaches every data set
    (:func:`propagate_data_root`).

    Args:
        cfg (mmengine.Config): the loaded config, changed in place.
        cfg_options (dict | None): the parsed ``key=value`` overrides.

    Returns:
        mmengine.Config: ``cfg``.
    """
    if cfg_options:
        check_cfg_options(cfg, cfg_options)
        check_cfg_option_types(cfg, cfg_options)
        propagate_data_root(cfg, cfg_options)
        check_disabled_hooks(cfg_options)
        cfg.merge_from_dict(cfg_options)
    return cfg


def prepare_config(cfg, checkpoint=None):
    """Prepare a config for code that builds its model and pipelines *without* a Runner.

    A Runner needs nothing of this: every config runs as it is under any launcher. Code that builds
    ``cfg.model`` and the test pipelines by itself (:func:`plugins.core.apis.load_model`, the benchmark's loader
    section) misses what the config's hooks do in a run; every custom hook with a ``prepare_offline(cfg,
    checkpoint)`` method does it here (today ``WordVocabularyHook``: the word vocabulary of SSAN / AXM-Net).

    Args:
        cfg (mmengine.Config): the merged config, changed in place.
        checkpoint (str, optional): the checkpoint to use: e.g. the vocabulary is the one saved next to it by its
            training run, never rebuilt, so token ids cannot drift.

    Returns:
        mmengine.Config: ``cfg``.
    """
    from mmpretrain.registry import HOOKS
    for hook_cfg in cfg.get('custom_hooks') or []:
        hook_type = hook_cfg.get('type')
        hook_cls = HOOKS.get(hook_type) if isinstance(hook_type, str) else hook_type
        if callable(getattr(hook_cls, 'prepare_offline', None)):
            HOOKS.build(dict(hook_cfg)).prepare_offline(cfg, checkpoint)
    return cfg


# ------------------------------------------------------------------------------------------------ config files
def _base_entries(path):
    """``[(line, entry)]`` of the ``_base_`` of a Python config file (strings only; ``::`` package paths skipped)."""
    with open(path, encoding='utf-8') as f:
        tree = ast.parse(f.read(), filename=path)
    entries = []
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, 'id', None) == '_base_' for t in node.targets):
            values = node.value.elts if isinstance(node.value, (ast.List, ast.Tuple)) else [node.value]
            entries += [(v.lineno, v.value) for v in values
                        if isinstance(v, ast.Constant) and isinstance(v.value, str) and '::' not in v.value]
    return entries


def find_missing_base(path, seen=None):
    """The first ``_base_`` entry of ``path`` or of its bases whose file does not exist.

    Returns:
        tuple | None: ``(referring config, line, entry, resolved path)``.
    """
    seen = set() if seen is None else seen
    if path in seen or not path.endswith('.py') or not osp.isfile(path):
        return None
    seen.add(path)
    for line, entry in _base_entries(path):
        resolved = osp.normpath(osp.join(osp.dirname(path), osp.expanduser(entry)))
        if not osp.isfile(resolved):
            return path, line, entry, resolved
        found = find_missing_base(resolved, seen)
        if found:
            return found
    return None


def load_config_file(path):
    """``Config.fromfile(path)``; a missing ``_base_`` file names the config that refers to it and the line.

    Raises:
        FileNotFoundError: the config itself, or a ``_base_`` file (``configs/my.py line 3: _base_ entry
            './my_schedule.py' not found: configs/my_schedule.py does not exist``).
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'config {path} does not exist')
    try:
        return Config.fromfile(path)
    except FileNotFoundError:
        found = find_missing_base(osp.abspath(path))
        if found is None:
            raise
        referring, line, entry, resolved = found
        raise FileNotFoundError(f'{referring} line {line}: _base_ entry {entry!r} not found: {resolved} does not '
                                f'exist (_base_ paths are relative to the config that names them)') from None
