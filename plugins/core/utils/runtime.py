"""Config adjustments the launchers apply before a Runner is built."""
import torch
import torch.distributed as torch_dist


#: the default hooks MMEngine itself knows how to switch off with ``None``
MMENGINE_DEFAULT_HOOKS = ('runtime_info', 'timer', 'logger', 'param_scheduler', 'checkpoint', 'sampler_seed')


def drop_disabled_default_hooks(cfg):
    """Let ``default_hooks.<name>=None`` switch off the plugin's own default hooks as well.

    MMEngine 0.10.7 accepts ``None`` only for its built-in default hooks and asserts on any other key, so
    ``--cfg-options default_hooks.finite_loss=None`` would crash the Runner; such entries are removed instead.

    Args:
        cfg (mmengine.Config): the merged config, changed in place.

    Returns:
        list[str]: the names removed.
    """
    hooks = cfg.get('default_hooks') or {}
    disabled = [name for name, hook in hooks.items() if hook is None and name not in MMENGINE_DEFAULT_HOOKS]
    for name in disabled:
        hooks.pop(name)
    return disabled


def resolve_dist_backend(cfg):
    """Replace ``env_cfg.dist_cfg.backend='auto'`` by ``nccl`` (CUDA available) or ``gloo`` (CPU).

    Args:
        cfg (mmengine.Config): the loaded config, changed in place.

    Returns:
        str | None: the backend chosen, or None when the config names one itself.
    """
    dist_cfg = cfg.get('env_cfg', {}).get('dist_cfg')
    if dist_cfg is None or dist_cfg.get('backend', 'auto') != 'auto':
        return None
    dist_cfg['backend'] = 'nccl' if torch.cuda.is_available() else 'gloo'
    return dist_cfg['backend']


def setup_cpu_distributed(cfg):
    """Make ``--launcher pytorch`` work on a machine without CUDA (gloo).

    MMEngine 0.10.7 calls ``torch.cuda.set_device`` before ``init_process_group`` whatever the backend, and
    wraps the model in DDP with ``device_ids=[LOCAL_RANK]``, which DDP refuses for CPU modules. We start the
    process group ourselves (the Runner skips its own initialisation when one exists) and give the wrapper
    ``device_ids=None``.

    Args:
        cfg (mmengine.Config): the merged config (``launcher`` and ``env_cfg`` set), changed in place.

    Returns:
        bool: whether the CPU set-up was applied.
    """
    backend = cfg.get('env_cfg', {}).get('dist_cfg', {}).get('backend')
    if cfg.get('launcher', 'none') != 'pytorch' or backend != 'gloo' or torch.cuda.is_available():
        return False
    if not torch_dist.is_initialized():
        torch_dist.init_process_group(backend='gloo')
    if cfg.get('model_wrapper_cfg') is None:
        cfg.model_wrapper_cfg = dict(type='MMDistributedDataParallel', device_ids=None,
                                     find_unused_parameters=cfg.get('find_unused_parameters', False))
    return True
