"""Generic hooks usable with every method."""
from .epoch_seed_hook import EpochSeedHook  # noqa: F401
from .finite_loss_hook import FiniteLossHook  # noqa: F401
from .gradcam_hook import GradCAMHook  # noqa: F401
from .model_selection_hook import ModelSelectionHook  # noqa: F401
from .optimizer_summary_hook import OptimizerSummaryHook  # noqa: F401
from .preemption_hook import PreemptionHook  # noqa: F401
from .strict_load_hook import StrictLoadHook  # noqa: F401
from .work_dir_lock_hook import WorkDirLockHook  # noqa: F401
from .word_vocabulary_hook import WordVocabularyHook  # noqa: F401
from .train_epoch_hook import TrainEpochHook  # noqa: F401
