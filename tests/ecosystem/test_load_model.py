"""One offline path from config + checkpoint to a model (``plugins.core.apis.load_model``), used by every tool.

Before it there were three: the inferencer, ``tools/export_onnx.py`` (which ignored ``load_strict``) and
``tools/visualize_attention.py`` (which skipped what the config's hooks prepare outside a Runner).
"""
import ast
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS

import plugins  # noqa: F401
from tests.helpers import REPO, demo_config, load_tool, save_random_model, tiny_options

#: an image model, its tiny variant (the ``Tiny Options`` of its demo's metafile entry)
IMAGE_CFG = demo_config(text=False, tiny=True)
TINY = tiny_options(IMAGE_CFG)
#: the calls that build or load a model by hand
BY_HAND = ('load_checkpoint', 'load_model_checkpoint', 'load_state_dict_checked')


def _tiny_cfg(**extra):
    cfg = Config.fromfile(IMAGE_CFG)
    cfg.merge_from_dict(dict(TINY, **extra))
    return cfg


@pytest.fixture(scope='module')
def partial_checkpoint(tmp_path_factory):
    """A checkpoint of the tiny image model without its classifier (what a feature-only export would keep)."""
    path = tmp_path_factory.mktemp('load_model') / 'partial.pth'
    model = save_random_model(IMAGE_CFG, path, 0, TINY)
    state = {k: v for k, v in model.state_dict().items() if not k.startswith('classifier')}
    torch.save({'state_dict': state, 'meta': {}}, path)
    return str(path)


def test_export_honours_load_strict(partial_checkpoint):
    """``tools/export_onnx.py`` loads through the one path: strict by default, partial with load_strict=False
    (the old loader passed strict=True whatever the config said)."""
    export = load_tool('export_onnx')
    with pytest.raises(Exception, match='classifier'):
        export.load_model(_tiny_cfg(), partial_checkpoint)
    model = export.load_model(_tiny_cfg(load_strict=False), partial_checkpoint)
    assert not model.training


@HOOKS.register_module()
class _OfflinePreparationProbe(Hook):
    """A hook that prepares the config outside a Runner (as WordVocabularyHook writes the vocabulary)."""

    def prepare_offline(self, cfg, checkpoint=None):
        cfg.prepared_by_probe = checkpoint


def test_hooks_prepare_the_config_through_their_own_method(partial_checkpoint):
    """What a hook prepares for code without a Runner is the hook's ``prepare_offline``, not a type-string
    switch in the loader; the attention tool goes through it too."""
    from plugins.core.apis import load_model
    cfg = _tiny_cfg(load_strict=False, custom_hooks=[dict(type='_OfflinePreparationProbe')])
    model, prepared = load_model(cfg, partial_checkpoint)
    assert prepared.prepared_by_probe == partial_checkpoint and 'prepared_by_probe' not in cfg
    attention = load_tool('visualize_attention')
    attention.build_model(cfg, partial_checkpoint, 'cpu')
    assert cfg.prepared_by_probe == partial_checkpoint


@pytest.mark.all_methods
def test_no_tool_loads_a_model_by_hand():
    """Every tool and API reaches a model through ``plugins.core.apis.load_model`` (or the inferencer, which
    uses it): none calls the loading functions itself."""
    files = glob.glob(osp.join(REPO, 'tools', '*.py')) + glob.glob(osp.join(REPO, 'plugins', 'core', 'apis', '*.py'))
    offenders = []
    for path in files:
        if path.endswith('loading.py'):
            continue
        for node in ast.walk(ast.parse(open(path).read())):
            if isinstance(node, ast.Call):
                name = getattr(node.func, 'id', None) or getattr(node.func, 'attr', None)
                if name in BY_HAND:
                    offenders.append(f'{osp.relpath(path, REPO)}:{node.lineno} {name}')
    assert not offenders, offenders
