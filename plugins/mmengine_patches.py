"""Importing this module applies :func:`plugins.core.utils.apply_mmengine_patches` (and registers the plugin).

The configs list it in ``custom_imports`` (``configs/_base_/default_runtime.py``), so that a run started by any
launcher gets the patches; ``import plugins`` alone patches nothing.
"""
import plugins  # noqa: F401  (registers every module of the plugin)
from plugins.core.utils.mmengine_patches import apply_mmengine_patches

apply_mmengine_patches()
