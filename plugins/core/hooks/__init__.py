"""Generic hooks usable with every method."""
from .epoch_seed_hook import EpochSeedHook  # noqa: F401
from .finite_loss_hook import FiniteLossHook  # noqa: F401
from .gradcam_hook import GradCAMHook  # noqa: F401
from .train_epoch_hook import TrainEpochHook  # noqa: F401
