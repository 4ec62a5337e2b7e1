"""Generic hooks usable with every method."""
from .gradcam_hook import GradCAMHook  # noqa: F401
