"""``load_model``: the one offline path from a config and a checkpoint to a model in eval mode.

``ReIDInferencer`` (and through it ``tools/search.py`` and ``tools/visualize_ranking.py``), ``tools/export_onnx.py``
and ``tools/visualize_attention.py`` build their model here, so they prepare the config, check the checkpoint and
load it the same way as ``tools/test.py`` does inside a Runner: what the config's hooks would prepare in a run
(:func:`~plugins.core.utils.prepare_config`), the checkpoint file checked before anything is built, strict loading
unless the config says ``load_strict=False``.
"""
import copy
import os
from typing import Optional, Tuple, Union

import torch
from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS

from plugins.core.utils import merge_cfg_options, prepare_config
from plugins.core.utils.checkpoint import check_checkpoint_file
from plugins.core.utils.checkpoint import load_model_checkpoint


def load_config(config: Union[str, os.PathLike, Config], cfg_options: Optional[dict] = None) -> Config:
    """A config file (or a copy of a loaded config) with ``cfg_options`` merged and its default scope set."""
    cfg = Config.fromfile(str(config)) if isinstance(config, (str, os.PathLike)) else copy.deepcopy(config)
    merge_cfg_options(cfg, cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    return cfg


def load_model(config: Union[str, os.PathLike, Config], checkpoint: Optional[str] = None, device: str = 'cpu',
               cfg_options: Optional[dict] = None) -> Tuple[torch.nn.Module, Config]:
    """Build the config's model, load the checkpoint's weights, put it in eval mode on ``device``.

    Args:
        config (str | Config): config file or loaded config (copied, not changed).
        checkpoint (str, optional): checkpoint file; None keeps the random initialisation (with a warning).
        device (str): ``'cpu'``, ``'cuda'``, ``'cuda:1'`` ...
        cfg_options (dict, optional): overrides merged before anything is built.

    Returns:
        tuple: ``(model, cfg)``: the model, and the prepared config it was built from (e.g. with the word
        vocabulary of the checkpoint's training run).

    Raises:
        FileNotFoundError | IsADirectoryError | ValueError: the checkpoint file is missing, a folder, empty or
            truncated (named, before the model is built).
        RuntimeError: the checkpoint does not fit the model and ``load_strict`` is not False.
    """
    cfg = load_config(config, cfg_options)
    if checkpoint is not None:
        check_checkpoint_file(checkpoint, 'checkpoint')
    prepare_config(cfg, checkpoint=checkpoint)
    model = MODELS.build(copy.deepcopy(cfg.model))
    if checkpoint is None:
        print_log(f'{type(model).__name__}: no checkpoint given, the model keeps its random initialisation',
                  logger='current', level=30)
    else:
        # strict unless the config says load_strict=False: a checkpoint of another model is an error
        load_model_checkpoint(model, checkpoint, strict=cfg.get('load_strict', True), config=cfg.filename)
    return model.to(torch.device(device)).eval(), cfg
