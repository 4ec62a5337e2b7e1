"""Utilities shared by the tools and the methods. Importing them patches nothing (see ``mmengine_patches``)."""
from .atomic_backend import AtomicLocalBackend, install_atomic_local_backend
from .atomic_write import atomic_dir, atomic_write
from .checkpoint import SAFE_GLOBALS, install_safe_checkpoint_loading
from .config import check_cfg_options, merge_cfg_options, prepare_config
from .log_filters import install_run_log_filter
from .mmengine_patches import apply_mmengine_patches
from .runtime import finish_distributed, finish_distributed_at_exit, setup_cpu_distributed

__all__ = ['AtomicLocalBackend', 'SAFE_GLOBALS', 'apply_mmengine_patches', 'atomic_dir', 'atomic_write',
           'check_cfg_options', 'finish_distributed', 'finish_distributed_at_exit',
           'install_atomic_local_backend', 'install_run_log_filter',
           'install_safe_checkpoint_loading', 'merge_cfg_options', 'prepare_config', 'setup_cpu_distributed']
