"""Kept so that old imports work: checkpoint reading is one module, :mod:`plugins.core.utils.checkpoint`."""
from .checkpoint import (OPT_OUT, REVISE_KEYS, CheckpointMismatchError, checkpoint_origin,  # noqa: F401
                         describe_target, load_model_checkpoint, load_state_dict_checked)
