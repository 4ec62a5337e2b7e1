"""Which checkpoint is tested, and on which data it was chosen: the config's ``model_selection`` rule.

A number chosen on the test split is not a test number (IRRA #45: RSTPReid's 60.2 was one peak epoch picked on
test). Every config states its rule, and the log, every checkpoint's ``meta`` and ``tools/test.py --out`` say it:

- ``'val'``: validate on a validation split (CUHK-PEDES and RSTPReid ship one), keep the best checkpoint there
  (``CheckpointHook`` ``save_best``: ``best_R1_epoch_N.pth``) and test that checkpoint on the test split.
- ``'test'``: the papers' code rule: validate on the test split and keep the best there. Available on purpose
  (``--cfg-options model_selection=test`` to reproduce a paper's selection), with a warning in the log; the
  runner (``ReIDRunner``) points validation at the test data itself.
- ``'last'`` (default, ``configs/_base_/default_runtime.py``): test the last checkpoint. For the data sets
  without a validation split (Market-1501, DukeMTMC-reID, CUHK03-NP, SYSU-MM01, RegDB, ICFG-PEDES); their
  validation runs on the test split and only draws the curves.
"""
import copy
from typing import Optional

from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS

#: the rules a config may state (``model_selection = ...``)
MODEL_SELECTION_RULES = ('val', 'test', 'last')
#: the key of the record in a checkpoint's ``meta`` and in ``tools/test.py --out``
META_KEY = 'model_selection'
#: the dataset keys that say which data a loader reads (not how it is transformed)
_DATA_KEYS = ('type', 'data_root', 'split', 'trial', 'ann_file', 'source')


def _data_of(dataset) -> object:
    """What data a dataset config reads: its identifying keys, recursively for wrappers of several sets."""
    if isinstance(dataset, (list, tuple)):
        return tuple(_data_of(d) for d in dataset)
    if not isinstance(dataset, dict):
        return dataset
    inner = dataset.get('datasets') or dataset.get('dataset')
    own = tuple((k, str(dataset.get(k))) for k in _DATA_KEYS if dataset.get(k) is not None)
    return own + ((('of', _data_of(inner)), ) if inner is not None else ())


def _datasets_of_loader(loader):
    """The dataset config(s) of a dataloader config, or of a list of them (several validation / test sets)."""
    if isinstance(loader, (list, tuple)):
        return [_datasets_of_loader(item) for item in loader]
    return loader.get('dataset', loader) if isinstance(loader, dict) else loader


def describe_data(loader) -> str:
    """``"CUHKPEDES split 'val'"`` for a dataloader config (a combined set or several loaders: each of its sets)."""
    if not loader:
        return 'none'
    return _describe(_datasets_of_loader(loader))


def _describe(dataset) -> str:
    if isinstance(dataset, (list, tuple)):
        return ' + '.join(_describe(d) for d in dataset)
    if not isinstance(dataset, dict):
        return str(dataset)
    inner = dataset.get('datasets') or dataset.get('dataset')
    if inner is not None and 'split' not in dataset:
        return _describe(inner)
    text = str(dataset.get('type', '?'))
    if dataset.get('split') is not None:
        text += f" split '{dataset['split']}'"
    if dataset.get('trial') is not None:
        text += f" trial {dataset['trial']}"
    return text


def same_data(loader_a, loader_b) -> bool:
    """Whether two dataloader configs (or lists of them) read the same data (same sets, roots, splits, trials)."""
    if not loader_a or not loader_b:
        return False
    return _data_of(_datasets_of_loader(loader_a)) == _data_of(_datasets_of_loader(loader_b))


def _checkpoint_hook(cfg) -> Optional[dict]:
    return (cfg.get('default_hooks') or {}).get('checkpoint')


def model_selection_rule(cfg) -> str:
    """The config's rule (``'last'`` when it states none); an unknown one is an error naming the key."""
    rule = cfg.get('model_selection', 'last')
    if rule not in MODEL_SELECTION_RULES:
        raise ValueError(f'model_selection={rule!r}: expected one of {MODEL_SELECTION_RULES} (val: best on the '
                         f'validation split, test: best on the test split as the papers\' code, last: the last '
                         f'checkpoint)')
    return rule


def apply_model_selection(cfg) -> str:
    """Make the loaders and ``save_best`` of ``cfg`` (a Config or the Runner's keyword arguments) follow its rule.

    ``'test'``: validation reads the test data with the test metric, and the best R1 is kept (unless the config
    names another ``save_best``). The other rules change nothing here; :class:`ModelSelectionHook` checks them.

    Returns:
        str: the rule.
    """
    rule = model_selection_rule(cfg)
    if rule == 'test' and cfg.get('val_cfg') is not None and cfg.get('test_dataloader') is not None:
        cfg['val_dataloader'] = copy.deepcopy(cfg['test_dataloader'])
        if cfg.get('test_evaluator') is not None:
            cfg['val_evaluator'] = copy.deepcopy(cfg['test_evaluator'])
        checkpoint = _checkpoint_hook(cfg)
        if checkpoint is not None and not checkpoint.get('save_best'):
            checkpoint.update(save_best='R1', rule='greater')
    return rule


def selection_record(cfg) -> dict:
    """What chose the checkpoints of a run of ``cfg``: rule, metric, the data it was chosen on, the test data."""
    rule = model_selection_rule(cfg)
    checkpoint = _checkpoint_hook(cfg) or {}
    validates = cfg.get('val_cfg') is not None and bool(cfg.get('val_dataloader'))
    record = dict(rule=rule, test_data=describe_data(cfg.get('test_dataloader')))
    if rule == 'last' or not validates:
        record.update(rule='last' if not validates else rule, metric=None, chosen_on=None)
    else:
        record.update(metric=checkpoint.get('save_best'), chosen_on=describe_data(cfg.get('val_dataloader')))
    return record


def describe_record(record: dict) -> str:
    """One sentence for the log."""
    if record.get('rule') == 'last' or not record.get('metric'):
        text = f"the last checkpoint is the one to test (on {record.get('test_data')}); no checkpoint is chosen"
    else:
        which = ('the validation split' if record['rule'] == 'val' else 'the TEST split (the papers\' code rule)')
        text = (f"best {record['metric']} on {which}, {record['chosen_on']}, is kept as best_*.pth and tested "
                f"on {record['test_data']}")
    if record.get('checkpoint') == 'best':
        text += f"; this checkpoint: that best, epoch {record.get('epoch')} ({record['metric']} {record.get('score')})"
    elif record.get('checkpoint'):
        text += f"; this checkpoint: {record['checkpoint']} {record.get('epoch')}"
    return text


def check_model_selection(cfg) -> list:
    """The rule of ``cfg`` against its loaders: ``[(log level, message)]`` to log, or a ValueError naming the fix.

    ``'val'`` needs a validation set that is not the test data and a ``save_best``; ``'test'`` needs validation
    on the test data (ReIDRunner sets it); a ``'last'`` config that keeps a best checkpoint chosen on the test
    data gets a warning.
    """
    record = selection_record(cfg)
    rule, checkpoint = record['rule'], _checkpoint_hook(cfg) or {}
    validates = cfg.get('val_cfg') is not None and bool(cfg.get('val_dataloader'))
    on_test_data = same_data(cfg.get('val_dataloader'), cfg.get('test_dataloader'))
    val_data = describe_data(cfg.get('val_dataloader'))
    if not validates:  # --no-validate: nothing can choose a checkpoint
        return [('info', f'Model selection: no validation in this run, the last checkpoint is the one to test '
                 f'(model_selection={rule!r} needs validation)')]
    if rule == 'val':
        if on_test_data:
            raise ValueError(f"model_selection='val', but val_dataloader reads the test data ({val_data}); point "
                             f"val_dataloader.dataset.split at the validation split, or set model_selection='last' "
                             f"(a data set without one) or 'test' (the papers' rule)")
        if not checkpoint.get('save_best'):
            raise ValueError("model_selection='val' needs default_hooks.checkpoint.save_best (e.g. 'R1'): nothing "
                             "else keeps the best checkpoint on the validation split")
    if rule == 'test' and validates and not on_test_data:
        raise ValueError(f"model_selection='test' chooses on the test data, but val_dataloader reads {val_data}; "
                         f"ReIDRunner (runner_type) points it at the test data itself: with another runner set "
                         f"val_dataloader = test_dataloader")
    message = f'Model selection ({record["rule"]}): {describe_record(record)}'
    if rule == 'test':
        return [('warning', message + ". A number chosen on the test split overstates what a new test set gives; "
                 "use it only to reproduce a paper's selection")]
    logs = [('info', message)]
    if rule == 'last' and validates and checkpoint.get('save_best') and on_test_data:
        logs.append(('warning', f"default_hooks.checkpoint.save_best={checkpoint['save_best']!r} keeps a best "
                     f"checkpoint chosen on the test data ({val_data}); under model_selection='last' test the last "
                     f"checkpoint, not that one"))
    return logs


@HOOKS.register_module()
class ModelSelectionHook(Hook):
    """Check, log and record the config's ``model_selection`` rule (see the module docstring).

    - ``before_train``: the rule must fit the loaders (``'val'``: a validation set that is not the test data and a
      ``save_best``; ``'test'``: validation on the test data); one log line says the rule, a warning for
      ``'test'``, and a warning when a ``'last'`` config still keeps a best checkpoint chosen on the test data.
    - ``before_save_checkpoint``: ``meta['model_selection']`` of every checkpoint: the rule, the metric, the data
      it was chosen on, the test data, and whether this file is the best one (with its epoch and score).
    - ``after_load_checkpoint`` (testing): logs how the loaded checkpoint was chosen and keeps the record in the
      message hub (``model_selection``), which ``tools/test.py --out`` writes.

    Priority ``NORMAL``: its ``after_val_epoch`` runs before ``CheckpointHook`` (``VERY_LOW``) saves the best.

    Args:
        enable (bool): False leaves checkpoints without the record (``default_hooks.model_selection.enable=False``).
    """

    priority = 'NORMAL'

    def __init__(self, enable: bool = True):
        self.enable = enable
        self._saving_best = False

    def before_train(self, runner) -> None:
        if not self.enable:
            return
        for level, message in check_model_selection(runner.cfg):
            getattr(runner.logger, level)(message)

    def before_train_epoch(self, runner) -> None:
        self._saving_best = False

    def after_val_epoch(self, runner, metrics=None) -> None:
        # CheckpointHook (lower priority) saves the best checkpoint right after, in this same call; the epoch and
        # preemption checkpoints are saved after the next before_train_epoch
        self._saving_best = True

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if not self.enable:
            return
        record = selection_record(runner.cfg)
        meta = checkpoint.setdefault('meta', {})
        # MMEngine saves the best without optimizer and schedulers, then saves the epoch checkpoint again (with
        # them) to store the new best score: only the first is the best one
        best = self._saving_best and 'optimizer' not in checkpoint and 'param_schedulers' not in checkpoint
        if best and record.get('metric'):
            metric = record['metric']
            key = 'best_score' if isinstance(metric, str) else f'best_score_{metric[0]}'
            # runner.epoch: the epoch just validated, the one in CheckpointHook's best_*_epoch_N.pth name
            record.update(checkpoint='best', epoch=runner.epoch, score=runner.message_hub.get_info(key))
        else:
            record.update(checkpoint='epoch', epoch=meta.get('epoch'))
        meta[META_KEY] = record

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if not self.enable or runner.cfg.get('resume'):
            return
        record = dict((checkpoint.get('meta') or {}).get(META_KEY) or {})
        if not record:
            runner.logger.info('Model selection: the checkpoint has no model_selection record (an older run, '
                               'converted weights or another tool): how it was chosen is not known')
            record = dict(rule='unknown')
        else:
            runner.logger.info(f'Model selection of the loaded checkpoint ({record.get("rule")}): '
                               f'{describe_record(record)}')
        record['tested_on'] = describe_data(runner.cfg.get('test_dataloader'))
        runner.message_hub.update_info(META_KEY, record)
