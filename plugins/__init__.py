"""Person re-identification methods for the OpenMMLab stack.

``import plugins`` registers every model, loss, hook, dataset, sampler, transform and metric of the plugin
in mmpretrain's registries (configs do it through ``custom_imports``).
"""
from .version import __version__  # noqa: F401
from . import core  # noqa: F401
from . import casn  # noqa: F401
from . import cal  # noqa: F401
from . import ssan  # noqa: F401
from . import axmnet  # noqa: F401
from . import irra  # noqa: F401

__all__ = ['__version__']
