"""Run log without noise: the per-parameter lines of the optimizer constructor at DEBUG, a true GPU count.

MMEngine's ``DefaultOptimWrapperConstructor`` logs one INFO line per parameter and option
(``paramwise_options -- backbone.layer1.0.bn1.bias:weight_decay=0.0``: about 120 lines per run of a ResNet);
``OptimizerSummaryHook`` logs one summary line instead and these lines stay available at ``log_level='DEBUG'``.
``Runner._log_env`` writes ``GPU number: <world size>``, which reads "GPU number: 1" on a machine without CUDA.
The filter is added to every ``MMLogger`` (the Runner creates its logger after the config imported the plugin).
"""
import logging
import re

import torch
from mmengine.logging import MMLogger

PARAMWISE_PREFIX = 'paramwise_options -- '
GPU_NUMBER = re.compile(r'^(\s*)GPU number: (\d+)$', flags=re.M)


class RunLogFilter(logging.Filter):
    """Lower the ``paramwise_options`` records to DEBUG; say "no CUDA device" in the runtime environment."""

    def filter(self, record):
        msg = record.msg
        if not isinstance(msg, str):
            return True
        if msg.startswith(PARAMWISE_PREFIX) and record.levelno == logging.INFO:
            # the handlers (at the config's log_level) drop it unless log_level='DEBUG'
            record.levelno, record.levelname = logging.DEBUG, 'DEBUG'
        elif 'GPU number: ' in msg and not torch.cuda.is_available():
            record.msg = GPU_NUMBER.sub(
                lambda m: f'{m[1]}GPU number: 0 (no CUDA device; {m[2]} process{"es" if m[2] != "1" else ""} '
                          f'on CPU)', msg)
        return True


RUN_LOG_FILTER = RunLogFilter()


def install_run_log_filter():
    """Add :data:`RUN_LOG_FILTER` to every existing and future ``MMLogger``. Idempotent."""
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
