from .checkpoint import SAFE_GLOBALS, install_safe_checkpoint_loading

install_safe_checkpoint_loading()

__all__ = ['SAFE_GLOBALS', 'install_safe_checkpoint_loading']
