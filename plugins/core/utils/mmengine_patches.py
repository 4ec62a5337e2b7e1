"""The plugin's changes to mmengine, applied by one explicit function.

Three changes (see each module for the reasons):

- :func:`~plugins.core.utils.checkpoint.install_safe_checkpoint_loading`: ``HistoryBuffer`` pickles without
  bound methods, the globals of mmengine checkpoints are allow-listed for ``torch.load(weights_only=True)``
  (``--resume``, ``load_from``), and MMEngine's local checkpoint loader reads through the plugin's one checkpoint
  reader (:func:`~plugins.core.utils.checkpoint.read_checkpoint`: a file that is no checkpoint is named as such);
- :func:`~plugins.core.utils.atomic_backend.install_atomic_local_backend`: checkpoints and ``last_checkpoint``
  are written atomically;
- :func:`~plugins.core.utils.log_filters.install_run_log_filter`: the run log without ~120 ``paramwise_options``
  lines (kept at DEBUG) and with a true GPU count on CPU.

Importing any module of the plugin patches nothing. The configs ask for the patches: their ``custom_imports``
(``configs/_base_/default_runtime.py``) lists ``plugins.mmengine_patches``, whose import calls
:func:`apply_mmengine_patches`, so every launcher that loads a config (mmpretrain's ``tools/train.py``,
``mim train``, ``Runner.from_cfg(Config.fromfile(...))``, this repository's tools) applies them. Code that uses
mmengine without a config calls :func:`apply_mmengine_patches` itself.
"""
import mmengine
from mmengine.utils import digit_version

#: the mmengine releases the patches were written and tested for: [0.10.0, 0.11.0)
SUPPORTED_MMENGINE = ('0.10.0', '0.11.0')


def check_mmengine_version(version=None):
    """Raise unless ``version`` (default: the installed mmengine) is one the patches were written for.

    Raises:
        RuntimeError: naming the version found and the supported range.
    """
    version = mmengine.__version__ if version is None else version
    low, high = SUPPORTED_MMENGINE
    if not digit_version(low) <= digit_version(version) < digit_version(high):
        raise RuntimeError(
            f'plugins.core.utils.apply_mmengine_patches: found mmengine {version}, but the patches (HistoryBuffer '
            f'pickling, atomic LocalBackend) were written for mmengine >= {low}, < {high} (0.10.x; the tested stack '
            f'is in requirements/runtime.txt). Install mmengine 0.10.x, or check that the patched functions are '
            f'unchanged in {version} and extend SUPPORTED_MMENGINE.')


def apply_mmengine_patches():
    """Apply every mmengine patch of the plugin (idempotent).

    Raises:
        RuntimeError: when the installed mmengine is not 0.10.x (nothing is patched then).
    """
    check_mmengine_version()
    from .atomic_backend import install_atomic_local_backend
    from .checkpoint import install_safe_checkpoint_loading
    from .log_filters import install_run_log_filter
    install_safe_checkpoint_loading()
    install_atomic_local_backend()
    install_run_log_filter()
