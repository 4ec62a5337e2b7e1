"""Person re-identification methods for the OpenMMLab stack.

``import plugins`` registers every model, loss, hook, dataset, sampler, transform and metric of the plugin
in mmpretrain's registries, and changes nothing else. The configs import ``plugins.mmengine_patches`` through
``custom_imports``: it registers the plugin and applies :func:`plugins.core.utils.apply_mmengine_patches`
(checkpoints that resume under torch >= 2.6, atomic checkpoint writes) for the run.
"""
from .version import __version__  # noqa: F401
from . import core  # noqa: F401
from . import baseline  # noqa: F401
from . import casn  # noqa: F401
from . import cal  # noqa: F401
from . import ssan  # noqa: F401
from . import axmnet  # noqa: F401
from . import irra  # noqa: F401

__all__ = ['__version__']
