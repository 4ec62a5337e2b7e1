"""Checks of ``--cfg-options`` (tools) and the preparation of a config used without a Runner."""
import difflib

from mmengine.config import Config, ConfigDict


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


def check_cfg_options(cfg, cfg_options):
    """Refuse ``--cfg-options`` keys that look like typos of existing keys.

    A key whose path does not exist is an error when it is a new top-level key or when an existing key at the
    same level is a close match (``model.num_clases`` -> ``model.num_classes``); other new nested keys are
    allowed (they may be optional arguments, e.g. ``train_dataloader.dataset.trial``).

    Raises:
        KeyError: naming the key, where it was looked for, and the close matches.
    """
    for key in cfg_options or {}:
        found, parent, missing, prefix = _lookup(cfg, key)
        if found:
            continue
        siblings = list(parent.keys()) if isinstance(parent, (dict, ConfigDict)) else []
        close = difflib.get_close_matches(missing, siblings, n=3, cutoff=0.75)
        if not prefix or close:
            where = f'under `{prefix}`' if prefix else 'at the top level of the config'
            hint = f' Did you mean: {", ".join(prefix + "." + c if prefix else c for c in close)}?' if close else ''
            raise KeyError(f'--cfg-options: unknown key `{key}` (no `{missing}` {where}).{hint}')


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
    """Merge ``--cfg-options`` into ``cfg`` after :func:`check_cfg_options` refused likely typos.

    Args:
        cfg (mmengine.Config): the loaded config, changed in place.
        cfg_options (dict | None): the parsed ``key=value`` overrides.

    Returns:
        mmengine.Config: ``cfg``.
    """
    if cfg_options:
        check_cfg_options(cfg, cfg_options)
        check_disabled_hooks(cfg_options)
        cfg.merge_from_dict(cfg_options)
    return cfg


def prepare_config(cfg, checkpoint=None):
    """Prepare a config for code that builds its model and pipelines *without* a Runner.

    A Runner needs nothing of this: every config runs as it is under any launcher. Code that builds
    ``cfg.model`` and the test pipelines by itself (the inferencer, ONNX export, benchmarks) misses what the
    config's hooks do in a run; today that is the word vocabulary of ``WordVocabularyHook`` (SSAN, AXM-Net),
    see :func:`~plugins.core.data.tokenizers.prepare_word_vocabulary`.

    Args:
        cfg (mmengine.Config): the merged config, changed in place.
        checkpoint (str, optional): the checkpoint to use: the vocabulary is the one saved next to it by its
            training run, never rebuilt, so token ids cannot drift.

    Returns:
        mmengine.Config: ``cfg``.
    """
    vocab_hooks = [hook for hook in cfg.get('custom_hooks') or []
                   if hook.get('type') in ('WordVocabularyHook', 'mmpretrain.WordVocabularyHook')]
    if vocab_hooks:
        from plugins.core.data.tokenizers import prepare_word_vocabulary
        prepare_word_vocabulary(cfg, checkpoint=checkpoint, min_count=vocab_hooks[0].get('min_count', 2))
    return cfg
