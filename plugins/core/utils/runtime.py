"""Config adjustments the launchers apply before a Runner is built."""
import torch


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
