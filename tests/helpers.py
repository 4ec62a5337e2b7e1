"""Helpers shared by the tests: running the tools, generating demo data, reading logged scalars, and picking
configs by a property read from the metafiles and the configs (never by a method name)."""
import functools
import importlib.util
import json
import os
import os.path as osp
import subprocess
import sys

REPO = osp.abspath(osp.join(osp.dirname(__file__), '..'))


def tool_path(name):
    """Absolute path of ``tools/<name>`` (``name`` with its extension, e.g. ``train.py``)."""
    return osp.join(REPO, 'tools', name)


def load_tool(name):
    """Import ``tools/<name>.py`` as a module, so a test can call its ``main(argv)`` in process."""
    spec = importlib.util.spec_from_file_location(f'tools_{name}', tool_path(f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def launcher_port():
    """A port for ``tools/dist_*.sh`` (``PORT``): see ``plugins.core.utils.ports.free_local_port``."""
    from plugins.core.utils.ports import free_local_port
    return str(free_local_port())


def run_tool(cwd, *args, timeout=1500, env=None):
    """Run ``python <args>`` (or ``bash <args>`` for a .sh) in ``cwd`` on one thread; fail with its output.

    ``env`` adds (or replaces) variables of that run only (e.g. ``{'PORT': launcher_port()}``).
    """
    env = {**os.environ, 'PYTHONPATH': REPO + os.pathsep + os.environ.get('PYTHONPATH', ''), 'OMP_NUM_THREADS': '1',
           **(env or {})}
    cmd = (['bash'] if str(args[0]).endswith('.sh') else [sys.executable]) + [str(a) for a in args]
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f'{" ".join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n'
                             f'{proc.stderr[-6000:]}')
    return proc


#: a process that holds a work dir lock the way a training run does (flock + its PID in the file):
#: ``python -c LOCK_HOLDER WORK_DIR LOCK_FILE`` prints 'locked' once it holds it
LOCK_HOLDER = '''
import fcntl, json, os, sys, time
os.makedirs(sys.argv[1], exist_ok=True)
f = open(os.path.join(sys.argv[1], sys.argv[2]), 'a+')
fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
f.truncate(0)
f.write(json.dumps({'pid': os.getpid()}))
f.flush()
print('locked', flush=True)
time.sleep(600)
'''


def make_demo_data(root, *datasets):
    """Write demo data sets (all when none is named) under ``root`` with tools/make_demo_data.py."""
    extra = ['--datasets', *datasets] if datasets else []
    subprocess.run([sys.executable, tool_path('make_demo_data.py'), str(root), *extra], check=True,
                   capture_output=True)
    return root


def data_root_options(root):
    """``--cfg-options`` entries pointing the train/val/test data sets at ``root``."""
    loaders = ('train_dataloader', 'val_dataloader', 'test_dataloader')
    return [f'{loader}.dataset.data_root={root}' for loader in loaders]


def demo_data_options(demo, roots):
    """``--cfg-options`` pointing every data set of ``demo``'s loaders (the sources of a ``CombinedReIDDataset``
    too) at its generated demo folder ``roots[<folder name>]`` (a dict, or a mapping that generates on demand)."""
    from mmengine.config import Config
    cfg, options = Config.fromfile(osp.join(REPO, demo.config)), []
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        dataset = cfg[loader].dataset
        nodes = [(f'{loader}.dataset.datasets.{i}', d) for i, d in enumerate(dataset.get('datasets', []))]
        for key, node in nodes or [(f'{loader}.dataset', dataset)]:
            options.append(f"{key}.data_root={roots[osp.basename(node['data_root'].rstrip('/'))]}")
    return options


def read_scalars(work_dir):
    """Records of every mmengine ``vis_data/scalars.json`` under ``work_dir`` (one dict per logged step)."""
    records = []
    for dirpath, _, files in sorted(os.walk(work_dir)):
        if 'scalars.json' in files and dirpath.endswith('vis_data'):
            with open(osp.join(dirpath, 'scalars.json')) as f:
                records.extend(json.loads(line) for line in f if line.strip())
    assert records, f'no vis_data/scalars.json under {work_dir}'
    return records


def save_random_model(config, path, seed, options=None):
    """Build ``config``'s model (``options`` merged) with torch seed ``seed``, save its weights as a checkpoint at
    ``path``; returns the model."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.runner import save_checkpoint
    from mmpretrain.registry import MODELS
    import torch
    cfg = Config.fromfile(config)
    cfg.merge_from_dict(options or {})
    init_default_scope('mmpretrain')
    torch.manual_seed(seed)
    model = MODELS.build(cfg.model)
    save_checkpoint({'state_dict': model.state_dict(), 'meta': {}}, str(path))
    return model


def epoch_means(records, key):
    """{epoch: mean of ``key`` over that epoch's logged training records} (records from :func:`read_scalars`)."""
    by_epoch = {}
    for r in records:
        if key in r and 'epoch' in r:
            by_epoch.setdefault(r['epoch'], []).append(r[key])
    return {epoch: sum(v) / len(v) for epoch, v in sorted(by_epoch.items())}


def assert_demo_learned(records, loss_keys=('loss', )):
    """What every demo exists to show, judged by criteria that held for seeds 0, 1 and 2 (issue 22; margins in
    docs/demo_results.md): each of ``loss_keys`` has a lower mean over the last training epoch than over the
    first (an epoch mean, not a handful of logged steps that one noisy epoch can reverse), and the last
    validation's mAP is above the first validation's. Thresholds against chance stay with each demo's test.
    """
    for key in loss_keys:
        means = epoch_means(records, key)
        assert len(means) >= 2, f'{key}: fewer than two epochs logged ({means})'
        first, last = means[min(means)], means[max(means)]
        assert last < first, f'{key}: mean of the last epoch {last:.4f} is not below the first epoch {first:.4f}'
    maps = [r['mAP'] for r in records if 'mAP' in r]
    assert len(maps) >= 2, f'fewer than two validations logged (mAP {maps})'
    assert maps[-1] > maps[0], f'mAP of the last validation {maps[-1]:.1f} is not above the first {maps[0]:.1f}'


def config_dicts(node, predicate, found=None):
    """Every dict inside a (nested) config node for which ``predicate(dict)`` holds, depth first."""
    found = [] if found is None else found
    if isinstance(node, dict):
        if predicate(node):
            found.append(node)
        for value in node.values():
            config_dicts(value, predicate, found)
    elif isinstance(node, (list, tuple)):
        for value in node:
            config_dicts(value, predicate, found)
    return found


# ------------------------------------------------------------------------------------------ configs by property
# A shared test picks the config it needs by a property read from the metafiles and the configs (image-only,
# a word vocabulary, a train sampler ...), never by a method's name: a method's facts stay in its package, its
# configs and its metafile (issue 24).

@functools.lru_cache(maxsize=None)
def _methods():
    from plugins.core.metafile import load_model_index
    return tuple(load_model_index(REPO))


@functools.lru_cache(maxsize=None)
def _config(path):
    from mmengine.config import Config
    return Config.fromfile(path)


def _types(node):
    return {d['type'] for d in config_dicts(node, lambda d: isinstance(d.get('type'), str))}


def _has(cfg, method, text=None, tokenizer=None, hook=None, sampler=None, where=None):
    """Whether ``cfg`` (of ``method``) has every property that is not None (see :func:`demo_configs`)."""
    if text is not None and method.has_text != text:
        return False
    if tokenizer is not None:
        loaders = [cfg.get(name) for name in ('train_dataloader', 'test_dataloader')]
        if tokenizer not in _types([loader.dataset for loader in loaders if loader]):
            return False
    if hook is not None and hook not in _types(cfg.get('custom_hooks') or []):
        return False
    if sampler is not None and cfg.train_dataloader.sampler.get('type') != sampler:
        return False
    return where is None or bool(where(cfg))


def demo_configs(data=None, tiny=None, **properties):
    """Absolute paths of the demo configs (the metafiles' ``Demo: Config:``) that have every given property, in
    model-index order (``Import`` order, then each metafile's ``Models`` order): stable, and a method added at
    the end of model-index.yml changes no earlier choice.

    Args:
        data (str, optional): the demo's data folder (``Demo: Data:``, e.g. ``'market1501'``).
        tiny (bool, optional): whether the demo entry has ``Tiny Options``.
        text (bool, optional): a text-image method (``'text'`` in the collection's ``Modalities``) or not.
        tokenizer (str, optional): a transform type of the train or test pipelines (e.g. ``'CLIPTokenize'``).
        hook (str, optional): a type of the config's ``custom_hooks`` (e.g. ``'WordVocabularyHook'``).
        sampler (str, optional): the type of ``train_dataloader.sampler``.
        where (callable, optional): ``where(cfg)`` must be true (``cfg``: the loaded Config; do not change it).
    """
    found = []
    for method in _methods():
        for model in method.models:
            demo = model.demo
            if demo is None or (data is not None and demo.data_sets != (data,)) or (
                    tiny is not None and bool(demo.tiny_options) != tiny):
                continue
            path = osp.join(REPO, demo.config)
            if _has(_config(path), method, **properties):
                found.append(path)
    return found


def published_configs(**properties):
    """Absolute paths of the published configs (the metafiles' ``Models: Config:``) that have every given
    property (``text``, ``tokenizer``, ``hook``, ``sampler``, ``where``: see :func:`demo_configs`), in
    model-index order."""
    return [osp.join(REPO, model.config) for method in _methods() for model in method.models
            if _has(_config(osp.join(REPO, model.config)), method, **properties)]


def _first(found, kind, properties):
    if not found:
        raise LookupError(f'no {kind} config has the properties {properties}; the test needs one')
    return found[0]


def demo_config(**properties):
    """The first of :func:`demo_configs` (same arguments); LookupError when no demo config has them."""
    return _first(demo_configs(**properties), 'demo', properties)


def published_config(**properties):
    """The first of :func:`published_configs` (same arguments); LookupError when no published config has them."""
    return _first(published_configs(**properties), 'published', properties)


def tiny_options(config):
    """The ``Tiny Options`` of the demo entry whose config is ``config`` (``{cfg-option: value}``, empty when it
    has none), checked against the config: a key that is no key of it is refused as ``--cfg-options`` would."""
    from plugins.core.utils.config import check_cfg_options
    rel = osp.relpath(config, REPO)
    demos = [m.demo for method in _methods() for m in method.models if m.demo is not None and m.demo.config == rel]
    assert demos, f'{rel}: no metafile Demo entry names this config'
    options = dict(demos[0].tiny_options)
    check_cfg_options(_config(config), options)
    return options


def cfg_option_args(options):
    """``{key: value}`` as ``--cfg-options`` arguments (``key=value``)."""
    return [f'{key}={value}' for key, value in options.items()]
