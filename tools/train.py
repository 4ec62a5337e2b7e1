"""Train a ReID model (the argument shape of mmpretrain's tools/train.py)."""
import argparse
import os
import os.path as osp
import sys

# `python tools/train.py` from a source checkout works without installing the package.
sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..')))


class CfgOptions(argparse.Action):
    """``--cfg-options``: :class:`plugins.core.utils.config.CfgOptionsAction`, imported when an option is parsed
    (``--help`` answers without importing torch and the plugin)."""

    def __call__(self, parser, namespace, values, option_string=None):
        from plugins.core.utils.config import CfgOptionsAction
        CfgOptionsAction.__call__(self, parser, namespace, values, option_string)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a ReID model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from the given checkpoint, or from the latest one in the work dir')
    parser.add_argument('--amp', action='store_true', help='automatic mixed precision training')
    parser.add_argument('--no-validate', action='store_true', help='do not evaluate during training')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the learning rate by the actual batch size / auto_scale_lr.base_batch_size')
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptions,
                        help='override config settings, key=value (e.g. train_cfg.max_epochs=2)')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
                        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


if __name__ == '__main__':
    parse_args()  # --help and usage errors answer here, before torch and the plugin are imported

from mmengine.registry import RUNNERS  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

from plugins.core.datasets import check_data_layouts  # noqa: E402
from plugins.core.hooks.work_dir_lock_hook import check_work_dir_free, lock_for_training  # noqa: E402
from plugins.core.utils import finish_distributed, merge_cfg_options, setup_cpu_distributed  # noqa: E402
from plugins.core.utils.checkpoint import check_checkpoint_file  # noqa: E402
from plugins.core.utils.config import load_config_file  # noqa: E402
from plugins.core.utils.work_dir import check_work_dir_usable, nothing_to_resume, resolve_last_checkpoint  # noqa: E402


def merge_args(cfg, args):
    """Merge the command line into the config."""
    if args.no_validate:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
        cfg.default_hooks.checkpoint.pop('save_best', None)
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    if args.amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume is not None:
        cfg.resume, cfg.load_from = True, args.resume
    if args.auto_scale_lr:
        cfg.auto_scale_lr.enable = True
    merge_cfg_options(cfg, args.cfg_options)
    check_work_dir_usable(cfg.work_dir)  # a regular file, or under one: named before anything is written
    args.resume_warnings = resolve_resume(cfg)
    setup_cpu_distributed(cfg)  # the machine, not the config: mmengine 0.10 runs distributed only with CUDA
    return cfg


def resolve_resume(cfg):
    """Check the checkpoint to load or resume before the model is built; returns the warnings to log.

    ``--resume`` without a path resumes from this work dir's ``last_checkpoint`` as an explicit path (never the
    file of another work dir, see :func:`~plugins.core.utils.work_dir.resolve_last_checkpoint`); with nothing to
    resume the run starts from scratch with a warning instead of MMEngine's "Auto resumed from the latest
    checkpoint None".
    """
    warnings = []
    if cfg.get('resume') and cfg.get('load_from') is None:
        out_dir = ((cfg.get('default_hooks') or {}).get('checkpoint') or {}).get('out_dir')
        path, warning = resolve_last_checkpoint(cfg.work_dir, out_dir)
        if path is None:
            cfg.resume, warning = False, nothing_to_resume(cfg.work_dir)
        cfg.load_from = path
        warnings += [warning] if warning else []
    if cfg.get('load_from') and '://' not in str(cfg.load_from):
        check_checkpoint_file(cfg.load_from, '--resume checkpoint' if cfg.get('resume') else 'load_from checkpoint')
    return warnings


def main(argv=None):
    args = parse_args(argv)
    cfg = merge_args(load_config_file(args.config), args)
    check_work_dir_free(cfg.work_dir)  # another run holds it: refused before the slower checks, nothing written
    # a wrong data root or a bad image stops here, before the model is built (the loaders this run reads)
    check_data_layouts(cfg, ['train_dataloader'] + (['val_dataloader'] if cfg.get('val_cfg') is not None else []))
    lock_for_training(cfg.work_dir, cfg.launcher)  # before the Runner writes its config copy and log folder
    main.checked = True
    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    for warning in args.resume_warnings:  # in the run's log, which exists from here on
        runner.logger.warning(warning)
    runner.train()
    finish_distributed()  # every rank got here: the process group ends before Python finalises
    return runner


def run_on_rank():
    """``main()``; under a multi-process launcher, a rank other than 0 reports an error found before the Runner
    (a config, a path, the work dir: the same on every rank) in one line, rank 0 with its traceback: a config error
    of `dist_train.sh CFG 3` is printed once, not three times."""
    main.checked = False
    try:
        return main()
    except KeyboardInterrupt:  # outside the training iterations (PreemptionHook saves inside them)
        print('train.py: interrupted (Ctrl-C) outside the training iterations: nothing was saved by this '
              'interruption', file=sys.stderr)
        sys.exit(130)
    except Exception as e:
        rank, world_size = os.environ.get('RANK', '0'), os.environ.get('WORLD_SIZE', '1')
        if main.checked or rank in ('', '0') or world_size in ('', '1'):
            raise
        first_line = (str(e).splitlines() or [''])[0]
        print(f'rank {rank}: {type(e).__name__}: {first_line[:300]} (rank 0 prints the whole error)', file=sys.stderr)
        sys.exit(1)


if __name__ == '__main__':
    run_on_rank()
