"""Kept so that old imports work: checkpoint reading is one module, :mod:`plugins.core.utils.checkpoint`."""
from .checkpoint import (ZIP_MAGIC, CheckpointFileError, check_checkpoint_content, check_checkpoint_file,  # noqa: F401
                         describe_object, not_a_checkpoint, read_checkpoint)
