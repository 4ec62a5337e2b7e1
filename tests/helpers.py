"""Helpers shared by the end-to-end tests: running the tools, generating demo data, reading logged scalars."""
import importlib.util
import json
import os
import os.path as osp
import random
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
    """A port for ``tools/dist_*.sh`` (``PORT``). Not drawn from ``random``: in-process training reseeds it, and
    two pytest-xdist workers must not draw the same port."""
    return str(random.SystemRandom().randint(20000, 40000))


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
