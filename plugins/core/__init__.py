"""Pieces shared by every method. Never imports a method package."""
from . import utils  # noqa: F401
from . import data, datasets, evaluation, hooks, models  # noqa: F401
from . import apis  # noqa: F401  (ReIDInferencer, GalleryIndex)
from . import distributed, runner  # noqa: F401  (ReIDRunner: the total batch over all processes)
from . import loops  # noqa: F401  (ReIDEpochBasedTrainLoop: resume in the middle of an epoch)
