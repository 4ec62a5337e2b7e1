"""Strict loading of trained weights: a checkpoint of another model is an error, not a mostly random model.

MMEngine loads checkpoints with ``strict=False``: missing and unexpected keys and tensors of another shape only
produce a warning, and the affected weights keep their random initialisation, so evaluating the baseline config
with an SSAN checkpoint prints metrics of a mostly random model. Every place of the plugin that loads a trained
model for use (``tools/test.py`` and ``--resume`` through :class:`~plugins.core.hooks.StrictLoadHook`,
``ReIDInferencer`` and the tools built on it, ``tools/visualize_attention.py``) goes through
:func:`load_state_dict_checked` instead, which refuses any mismatch unless partial loading is asked for
(``--cfg-options load_strict=False``), and names the config the checkpoint comes from (MMEngine saves
``meta.experiment_name`` = ``<config name>_<timestamp>`` and ``meta.cfg``, the config text, in every checkpoint).
"""
import os.path as osp
import re
from collections import OrderedDict

from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from torch.nn.modules.module import _IncompatibleKeys

from .checkpoint_file import check_checkpoint_content, read_checkpoint

#: How to opt out, quoted by every error.
OPT_OUT = '--cfg-options load_strict=False'
#: MMEngine's own key revision: weights saved from a DDP-wrapped model start with ``module.``
REVISE_KEYS = ((r'^module\.', ''),)


class CheckpointMismatchError(RuntimeError):
    """The checkpoint's tensors do not fit the model (or its optimizer state the optimizer)."""


def _model_type_of(cfg_text):
    try:
        return Config.fromstring(cfg_text, file_format='.py').model.type
    except Exception:  # config text of another code base: fall back to a plain search
        match = re.search(r"^model = dict\((?:.|\n)*?\btype='([\w.]+)'", cfg_text, flags=re.M)
        return match.group(1) if match else None


def checkpoint_origin(checkpoint):
    """Where a checkpoint seems to come from, from its MMEngine ``meta``.

    Args:
        checkpoint (dict): a loaded checkpoint.

    Returns:
        str: e.g. ``"config ssan_cuhkpedes_demo.py (experiment ssan_cuhkpedes_demo_20250101_120000, model SSAN,
        epoch 3)"``, or a sentence saying that the checkpoint carries no MMEngine meta.
    """
    meta = checkpoint.get('meta') if isinstance(checkpoint, dict) else None
    if not isinstance(meta, dict) or not (meta.get('experiment_name') or meta.get('cfg')):
        return 'an unknown config (the checkpoint has no mmengine meta)'
    details = []
    experiment = meta.get('experiment_name')
    config = re.sub(r'_\d{8}_\d{6}$', '', experiment) + '.py' if experiment else 'an unnamed config'
    if experiment:
        details.append(f'experiment {experiment}')
    model_type = _model_type_of(meta['cfg']) if meta.get('cfg') else None
    if model_type:
        details.append(f'model {model_type}')
    if 'epoch' in meta:
        details.append(f'epoch {meta["epoch"]}')
    return f'config {config} ({", ".join(details)})'


def describe_target(model, config=None):
    """``"config baseline_market1501_demo.py (model ReIDBaseline)"``: what a checkpoint is loaded into."""
    name = f'config {osp.basename(config)}' if config else 'this config'
    return f'{name} (model {type(model).__name__})'


def _incompatible_keys(model, state_dict):
    """Load ``state_dict`` into ``model`` as ``nn.Module.load_state_dict`` does, but collect every problem.

    Returns:
        tuple[list, list, list]: missing keys, unexpected keys, size mismatch messages.
    """
    missing, unexpected, errors = [], [], []
    metadata = getattr(state_dict, '_metadata', None)

    def load(module, prefix=''):
        local_metadata = {} if metadata is None else metadata.get(prefix[:-1], {})
        # strict=True: torch records missing/unexpected keys only then; nothing is raised here
        module._load_from_state_dict(state_dict, prefix, local_metadata, True, missing, unexpected, errors)
        for name, child in module._modules.items():
            if child is not None:
                load(child, prefix + name + '.')

    load(model)
    for module in model.modules():  # post hooks may forgive keys, as in nn.Module.load_state_dict
        for hook in getattr(module, '_load_state_dict_post_hooks', {}).values():
            hook(module, _IncompatibleKeys(missing, unexpected))
    # MMEngine's rule: BatchNorm counters of old checkpoints may be absent
    missing = [k for k in missing if not k.endswith('num_batches_tracked')]
    return missing, unexpected, errors


def _listing(keys, limit=5):
    shown = ', '.join(keys[:limit])
    return shown + (f', ... ({len(keys) - limit} more)' if len(keys) > limit else '')


def load_state_dict_checked(model, checkpoint, strict=True, source='the checkpoint', target=None):
    """Copy a checkpoint's ``state_dict`` into ``model``; refuse (``strict``) or report any mismatch.

    Args:
        model (nn.Module): the model (a DDP wrapper is unwrapped).
        checkpoint (dict): the loaded checkpoint (``{'state_dict': ..., 'meta': ...}`` or a plain state dict).
        strict (bool): raise on missing or unexpected keys and on tensors of another shape. False loads what
            fits and logs a warning naming the rest.
        source (str): the checkpoint file, for the messages.
        target (str, optional): what is being loaded into, e.g. ``describe_target(model, cfg.filename)``.

    Raises:
        CheckpointMismatchError: ``strict`` and the checkpoint does not fit; names the file, the config the
            checkpoint comes from, the keys, and the opt-out.
        CheckpointFileError: the checkpoint holds no state dict (e.g. a bare tensor); names the file.
    """
    check_checkpoint_content(checkpoint, source)
    if is_model_wrapper(model):
        model = model.module
    state_dict = checkpoint.get('state_dict', checkpoint)
    metadata = getattr(state_dict, '_metadata', OrderedDict())
    for pattern, replacement in REVISE_KEYS:
        state_dict = OrderedDict((re.sub(pattern, replacement, k), v) for k, v in state_dict.items())
    state_dict._metadata = metadata
    missing, unexpected, errors = _incompatible_keys(model, state_dict)
    if not (missing or unexpected or errors):
        return
    errors = [e.strip().rstrip('.') for e in errors]
    problems = [f'{len(missing)} missing keys ({_listing(missing)})' if missing else '',
                f'{len(unexpected)} unexpected keys ({_listing(unexpected)})' if unexpected else '',
                f'{len(errors)} size mismatches ({_listing(errors, 3)})' if errors else '']
    message = (f'checkpoint {source} does not fit {target or describe_target(model)}: '
               f'{"; ".join(p for p in problems if p)}. The checkpoint seems to come from '
               f'{checkpoint_origin(checkpoint)}.')
    if strict:
        raise CheckpointMismatchError(f'{message} Use the config it was trained with, or load partially on '
                                      f'purpose with `{OPT_OUT}` (the other weights keep their initialisation).')
    print_log(f'{message} Partial loading ({OPT_OUT}): the other weights keep their initialisation.',
              logger='current', level=30)


def load_model_checkpoint(model, filename, strict=True, config=None, map_location='cpu'):
    """Load ``filename`` into ``model`` through :func:`load_state_dict_checked` (the tools' loading call).

    Args:
        model (nn.Module): the built model.
        filename (str): checkpoint file.
        strict (bool): refuse a checkpoint that does not fit (``cfg.get('load_strict', True)`` in the tools).
        config (str, optional): the config file the model was built from, for the messages.
        map_location (str): where to load the tensors.

    Returns:
        dict: the loaded checkpoint.
    """
    checkpoint = read_checkpoint(filename, map_location=map_location)
    load_state_dict_checked(model, checkpoint, strict, source=filename, target=describe_target(model, config))
    print_log(f'Load checkpoint from {filename}', logger='current')
    return checkpoint
