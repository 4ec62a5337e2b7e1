from .checkpoint import SAFE_GLOBALS, install_safe_checkpoint_loading
from .config import check_cfg_options, prepare_config
from .runtime import resolve_dist_backend

install_safe_checkpoint_loading()

__all__ = ['SAFE_GLOBALS', 'install_safe_checkpoint_loading', 'check_cfg_options', 'prepare_config',
           'resolve_dist_backend']
