from .atomic_backend import AtomicLocalBackend, atomic_write, install_atomic_local_backend
from .checkpoint import SAFE_GLOBALS, install_safe_checkpoint_loading
from .config import check_cfg_options, merge_cfg_options, prepare_config
from .log_filters import install_run_log_filter
from .runtime import drop_disabled_default_hooks, resolve_dist_backend

install_safe_checkpoint_loading()
install_atomic_local_backend()
install_run_log_filter()

__all__ = ['AtomicLocalBackend', 'SAFE_GLOBALS', 'atomic_write', 'check_cfg_options',
           'install_atomic_local_backend', 'install_run_log_filter', 'install_safe_checkpoint_loading',
           'merge_cfg_options', 'prepare_config',
           'drop_disabled_default_hooks', 'resolve_dist_backend']
