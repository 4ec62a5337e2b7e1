"""Evaluate a ReID checkpoint (the argument shape of mmpretrain's tools/test.py)."""
import argparse
import json
import os
import os.path as osp
import sys

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..')))


class CfgOptions(argparse.Action):
    """``--cfg-options``: :class:`plugins.core.utils.config.CfgOptionsAction`, imported when an option is parsed
    (``--help`` answers without importing torch and the plugin)."""

    def __call__(self, parser, namespace, values, option_string=None):
        from plugins.core.utils.config import CfgOptionsAction
        CfgOptionsAction.__call__(self, parser, namespace, values, option_string)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Evaluate a ReID checkpoint')
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save the evaluation logs')
    parser.add_argument('--out', help='write the metrics to this JSON file')
    parser.add_argument('--show-dir', help='write visualisations (attention maps of hooks that draw) here')
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptions,
                        help='override config settings, key=value')
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

from plugins.core.evaluation.paper_table import compare_with_paper  # noqa: E402
from plugins.core.utils import finish_distributed, merge_cfg_options, setup_cpu_distributed  # noqa: E402
from plugins.core.utils.checkpoint import check_checkpoint_file  # noqa: E402
from plugins.core.utils.config import load_config_file  # noqa: E402


def merge_args(cfg, args):
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    # a folder, a missing, empty or truncated file: named now, not after the model and the data are built
    cfg.load_from = check_checkpoint_file(args.checkpoint)
    cfg.resume = False
    if args.show_dir is not None:
        # hooks that draw (e.g. GradCAMHook) take `out_dir`
        for hook in cfg.get('custom_hooks', []):
            if 'out_dir' in hook or hook.get('type') in ('GradCAMHook',):
                hook['out_dir'] = args.show_dir
    merge_cfg_options(cfg, args.cfg_options)
    setup_cpu_distributed(cfg)  # the machine, not the config: mmengine 0.10 runs distributed only with CUDA
    return cfg


def main(argv=None):
    args = parse_args(argv)
    cfg = merge_args(load_config_file(args.config), args)
    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    metrics = runner.test()
    # the paper's numbers of the config's metafile entry beside the measured ones (docs/reproduce.md)
    comparison = compare_with_paper(args.config, metrics)
    runner.logger.info('Measured and published:\n' + comparison.table())
    if args.out and runner.rank == 0:
        with open(args.out, 'w') as f:
            json.dump(comparison.as_json(model_selection=runner.message_hub.get_info('model_selection')), f, indent=2)
    finish_distributed()  # every rank got here: the process group ends before Python finalises
    return metrics


if __name__ == '__main__':
    main()
