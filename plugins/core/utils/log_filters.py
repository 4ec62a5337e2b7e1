"""Run log without noise: the per-parameter lines of the optimizer constructor at DEBUG, a true GPU count, and the
messages of our dependencies that say nothing to a user (at DEBUG, or filtered once).

MMEngine's ``DefaultOptimWrapperConstructor`` logs one INFO line per parameter and option
(``paramwise_options -- backbone.layer1.0.bn1.bias:weight_decay=0.0``: about 120 lines per run of a ResNet);
``OptimizerSummaryHook`` logs one summary line instead and these lines stay available at ``log_level='DEBUG'``.
``Runner._log_env`` writes ``GPU number: <world size>``, which reads "GPU number: 1" on a machine without CUDA.
``Runner._log_env`` also prints PyTorch's build settings (one 2000-character line of compiler flags before the
first message of the run): they are cut to one line pointing at ``torch.__config__.show()``. MMEngine's own
deprecation notices about its internals (``"FileClient" will be deprecated``, ``"HardDiskBackend" is the alias``),
the BNNeck's by-design frozen bias (``neck.bn.bias is skipped since its requires_grad=False``) and mmcv-lite's
``Fail to import MultiScaleDeformableAttention`` (no method here uses it) go to DEBUG / are filtered.
The filter is added to every ``MMLogger`` (the Runner creates its logger after the config imported the plugin).
"""
import logging
import re
import warnings

import torch
from mmengine.logging import MMLogger

PARAMWISE_PREFIX = 'paramwise_options -- '
GPU_NUMBER = re.compile(r'^(\s*)GPU number: (\d+)$', flags=re.M)
#: ``PyTorch compiling details: ...`` up to the next entry of the environment table (``TorchVision: ...``).
BUILD_DETAILS = re.compile(r'^(\s*)PyTorch compiling details:.*?(?=^\s*\w[\w ]*: |\Z)', flags=re.M | re.S)
#: MMLogger warnings about MMEngine's internals or the plugin's design, not about the user's run: lowered to DEBUG.
QUIET_WARNINGS = ('"FileClient" will be deprecated in future', '"HardDiskBackend" is the alias of "LocalBackend"',
                  'neck.bn.bias is skipped since its requires_grad=False')
#: Python warnings of dependencies that concern none of the methods: (message regex, category).
IGNORED_PY_WARNINGS = (
    (r'Fail to import ``MultiScaleDeformableAttention``', UserWarning),  # mmcv-lite; no method uses it
)


class RunLogFilter(logging.Filter):
    """Lower the ``paramwise_options`` records to DEBUG; say "no CUDA device" in the runtime environment."""

    def filter(self, record):
        msg = record.msg
        if not isinstance(msg, str):
            return True
        if (msg.startswith(PARAMWISE_PREFIX) and record.levelno == logging.INFO) or (
                record.levelno == logging.WARNING and msg.startswith(QUIET_WARNINGS)):
            # the handlers (at the config's log_level) drop it unless log_level='DEBUG'
            record.levelno, record.levelname = logging.DEBUG, 'DEBUG'
            return True
        if 'PyTorch compiling details:' in msg:
            msg = record.msg = BUILD_DETAILS.sub(
                lambda m: f'{m[1]}PyTorch compiling details: python -c "import torch; '
                          f'print(torch.__config__.show())"', msg)
        if 'GPU number: ' in msg and not torch.cuda.is_available():
            record.msg = GPU_NUMBER.sub(
                lambda m: f'{m[1]}GPU number: 0 (no CUDA device; {m[2]} process{"es" if m[2] != "1" else ""} '
                          f'on CPU)', msg)
        return True


RUN_LOG_FILTER = RunLogFilter()


def quiet_dependency_warnings():
    """Ignore the Python warnings of :data:`IGNORED_PY_WARNINGS` (idempotent: ``warnings`` keeps one entry)."""
    for message, category in IGNORED_PY_WARNINGS:
        warnings.filterwarnings('ignore', message=message, category=category)


def install_run_log_filter():
    """Add :data:`RUN_LOG_FILTER` to every existing and future ``MMLogger`` and :func:`quiet_dependency_warnings`.
    Idempotent."""
    quiet_dependency_warnings()
    for logger in getattr(MMLogger, '_instance_dict', {}).values():
        if RUN_LOG_FILTER not in logger.filters:
            logger.addFilter(RUN_LOG_FILTER)
    if getattr(MMLogger.__init__, '_adds_run_log_filter', False):
        return
    original_init = MMLogger.__init__

    def __init__(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        self.addFilter(RUN_LOG_FILTER)

    __init__._adds_run_log_filter = True
    MMLogger.__init__ = __init__
