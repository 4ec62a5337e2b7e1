"""Training-step section: each method's ``train_step`` against the forward + backward of its test features.

The reference pass uses only the model contract (:class:`~plugins.core.models.BaseReIDModel`): ``embed_image``
on the batch's images and, for text-image models, ``embed_text`` on every caption input of the batch that the
training loss reads (``text``, ``weak_text``, ``mlm_text`` ...; a batch may carry captions a method ignores),
forward and backward. The step / reference ratio is the cost of everything training adds to the inference
network: the heads, the losses, the optimizer update.
"""
import gc
import os.path as osp
import tempfile
import time
from dataclasses import dataclass
from typing import Dict, List, Optional, Set

import torch

from .report import Section, fmt


@dataclass(frozen=True)
class TrainCase:
    """One config whose training step is timed against the forward + backward of its test features.

    Args:
        config (str): config file (pre-trained weights are switched off; random init costs the same).
        target (float): the bound on ``step / reference`` the report shows.
    """
    config: str
    target: float = 1.3


def case_label(case: TrainCase) -> str:
    """``<model type> (`<config file name>`)`` for the tables."""
    from mmengine.config import Config
    return f'{Config.fromfile(case.config).model.type} (`{osp.basename(case.config)}`)'


def demo_data_root(demo_root: str, name: str) -> str:
    """``<demo_root>/<name>``, generated in the real on-disk layout when missing (:mod:`plugins.core.datasets.demo`)."""
    from plugins.core.datasets.demo import make_demo_data
    make_demo_data(demo_root, [name], verbose=False)
    return osp.join(demo_root, name)


def drop_pretrained(node):
    """Random init instead of downloads: ``init_cfg=dict(type='Pretrained')`` -> None, ``pretrained=...`` ->
    None, recursively (e.g. a CLIP tower then builds from its ``config`` preset)."""
    if isinstance(node, dict):
        init = node.get('init_cfg')
        if isinstance(init, dict) and init.get('type') == 'Pretrained':
            node['init_cfg'] = None
        if node.get('pretrained') not in (None, False):
            node['pretrained'] = None
        for value in node.values():
            drop_pretrained(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            drop_pretrained(value)


def case_config(args, case: TrainCase, batch_size: int, num_workers: int, work_dir: str):
    """The config of ``case`` on the demo data (``args.demo_root``), with the given loader settings."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from plugins.core.utils import prepare_config
    cfg = Config.fromfile(case.config)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    cfg.work_dir = work_dir
    loader = cfg.train_dataloader
    for dataset in [loader.dataset, *loader.dataset.get('datasets', [])]:  # a CombinedReIDDataset's sources too
        if 'data_root' in dataset:
            dataset.data_root = demo_data_root(args.demo_root, osp.basename(dataset.data_root.rstrip('/')))
    loader.update(batch_size=batch_size, num_workers=num_workers, persistent_workers=num_workers > 0)
    if 'batch_size' in loader.sampler:
        loader.sampler.batch_size = batch_size
    if 'num_instances' in loader.sampler and batch_size < 16:
        loader.sampler.num_instances = 2  # keeps several identities in a small timing batch
    drop_pretrained(cfg.model)
    return prepare_config(cfg)  # builds the word vocabulary of the word-level text models into work_dir


class ReadKeys(dict):
    """A dict that records the keys read from it (``[]`` and ``get``; ``in`` tests are not reads)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.read = set()

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)


def keys_read_by_loss(model, data: dict) -> Set[str]:
    """The input keys the model's loss reads on a preprocessed training batch (one forward, no update)."""
    inputs = ReadKeys(data['inputs'])
    model(inputs, data['data_samples'], mode='loss')
    model.zero_grad(set_to_none=True)
    return inputs.read


def caption_keys(inputs: dict, used: Optional[Set[str]] = None) -> List[str]:
    """The caption inputs of a batch: ``text`` and every ``<name>_text`` (``weak_text``, ``mlm_text`` ...),
    restricted to ``used`` when given."""
    return [key for key in inputs if (key == 'text' or key.endswith('_text')) and (used is None or key in used)]


def reference_outputs(model, inputs: dict, data_samples, used: Optional[Set[str]] = None) -> List[torch.Tensor]:
    """The test features of the batch's inputs: ``embed_image`` on the images, ``embed_text`` on each caption
    input (with its ``<key>_mask`` when the batch has one); ``used``: only the caption inputs in it."""
    outs = [model.embed_image(inputs, data_samples)] if 'img' in inputs else []
    if model.has_text_tower:
        for key in caption_keys(inputs, used):
            text_inputs = dict(text=inputs[key])
            if f'{key}_mask' in inputs:
                text_inputs['text_mask'] = inputs[f'{key}_mask']
            outs.append(model.embed_text(text_inputs, data_samples))
    return outs


def describe_reference(model, inputs: dict, used: Optional[Set[str]] = None) -> str:
    """The reference pass in words, e.g. ``embed_image on img, embed_text on text, weak_text``."""
    parts = ['`embed_image` on img'] if 'img' in inputs else []
    if model.has_text_tower and caption_keys(inputs, used):
        parts.append('`embed_text` on ' + ', '.join(caption_keys(inputs, used)))
    return ', '.join(parts)


class HookedRun:
    """A real Runner of a case's config: its model, its first training batch, and its custom hooks around each step.

    The Runner is built the way every launcher builds it (``runner_type``, so ``ReIDRunner`` splits the total
    batch and converts BatchNorm when distributed), so a hook finds what a run gives it: the work dir, the data
    loaders, the logger (``WordVocabularyHook`` attaches the run's vocabulary to the training loader before the
    batch is read). The hooks see the last training epoch (``train_cfg.max_epochs - 1``), where every
    epoch-scheduled action (warm-ups, late-stage counting) is on; ``before_run`` / ``before_train`` /
    ``before_train_epoch`` run once, untimed; the per-iteration callbacks are timed (:attr:`seconds`).

    Args:
        cfg (mmengine.Config): the case config (``work_dir`` set).
    """

    def __init__(self, cfg):
        from mmengine.registry import RUNNERS
        from mmengine.runner import Runner
        cfg.log_level = 'WARNING'  # no environment and config dump per timed case
        for key in ('val_dataloader', 'val_cfg', 'val_evaluator', 'test_dataloader', 'test_cfg', 'test_evaluator'):
            cfg[key] = None  # a timed step evaluates nothing (and their data roots are not the demo's)
        self.cfg = cfg
        self.runner = RUNNERS.build(cfg) if 'runner_type' in cfg else Runner.from_cfg(cfg)
        custom = {hook['type'].split('.')[-1] if isinstance(hook['type'], str) else hook['type'].__name__
                  for hook in cfg.get('custom_hooks') or []}
        self.hooks = [hook for hook in self.runner.hooks if type(hook).__name__ in custom]
        loop = self.runner.train_loop  # built on first access, with its data loader
        for stage in ('before_run', 'before_train'):
            for hook in self.hooks:
                getattr(hook, stage)(self.runner)
        loop._epoch = max(loop.max_epochs - 1, 0)
        for hook in self.hooks:
            hook.before_train_epoch(self.runner)
        self.model = self.runner.model
        self.batch = next(iter(self.runner.train_dataloader))
        self.seconds = 0.0

    @property
    def names(self) -> List[str]:
        return [type(hook).__name__ for hook in self.hooks]

    def wrap(self, step):
        """``step`` with the hooks' ``before_train_iter`` / ``after_train_iter`` around it (timed apart)."""
        if not self.hooks:
            return step

        def hooked_step():
            start = time.perf_counter()
            for hook in self.hooks:
                hook.before_train_iter(self.runner, 0, self.batch)
            middle = time.perf_counter()
            out = step()
            end = time.perf_counter()
            for hook in self.hooks:
                hook.after_train_iter(self.runner, 0, self.batch, out)
            self.seconds += (middle - start) + (time.perf_counter() - end)
            return out
        return hooked_step


def case_run(args, case: TrainCase, batch_size: int, work_dir: str, amp: bool = False, **cfg_updates) -> HookedRun:
    """The :class:`HookedRun` of ``case`` at ``batch_size`` on the demo data, its weights initialised, in train mode.

    Args:
        amp (bool): mmengine's ``AmpOptimWrapper`` (float16 autocast + loss scaling; CUDA only).
        cfg_updates: top-level config keys set before the Runner is built (e.g. ``launcher``, ``sync_bn``).
    """
    from mmpretrain.utils import get_ori_model
    cfg = case_config(args, case, batch_size, 0, work_dir)
    if args.quick:  # half-size inputs keep --quick short; the full run uses the published size
        halve_input_size(cfg.train_dataloader.dataset.pipeline)
    if amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
    cfg.randomness = dict(cfg.get('randomness') or {}, seed=args.seed)
    cfg.update(cfg_updates)
    run = HookedRun(cfg)
    get_ori_model(run.model).init_weights()
    run.model.train()
    return run


def time_case(args, case: TrainCase, batch_size: int, repeats: int, work_dir: str, device: str = 'cpu',
              amp: bool = False) -> Dict[str, object]:
    """Seconds of one training step and of the reference pass (best of ``repeats`` after a warm-up).

    Args:
        device (str): ``'cpu'`` or ``'cuda'``.
        amp (bool): float16 autocast + loss scaling (mmengine ``AmpOptimWrapper``; CUDA only).

    Returns:
        dict: ``step`` and ``reference`` seconds, ``reference_pass`` (in words), ``hooks`` (the custom hooks'
        names) and ``hook_seconds`` (their callbacks per step; None without custom hooks).
    """
    from mmengine.optim import build_optim_wrapper
    run = case_run(args, case, batch_size, work_dir, amp)
    model, batch = run.model.to(device), run.batch
    optim_wrapper = build_optim_wrapper(model, run.cfg.optim_wrapper)
    used = keys_read_by_loss(model, model.data_preprocessor(batch, True))

    def step():
        return model.train_step(batch, optim_wrapper)

    def reference():
        data = model.data_preprocessor(batch, True)
        with torch.autocast(device_type=device, dtype=torch.float16, enabled=amp):
            total = sum(out.float().mean() for out in reference_outputs(model, data['inputs'],
                                                                        data['data_samples'], used))
        total.backward()
        model.zero_grad(set_to_none=True)

    sync = torch.cuda.synchronize if device == 'cuda' else (lambda: None)
    timed = {'step': run.wrap(step), 'reference': reference}
    best = {name: float('inf') for name in timed}
    for round_ in range(repeats + 1):  # round 0 warms up (allocations, oneDNN / cuDNN primitives)
        if round_ == 1:
            run.seconds = 0.0
        for name, fn in timed.items():
            sync()
            start = time.perf_counter()
            fn()
            sync()
            if round_:
                best[name] = min(best[name], time.perf_counter() - start)
    inputs = model.data_preprocessor(batch, True)['inputs']
    return dict(best, reference_pass=describe_reference(model, inputs, used), hooks=run.names,
                hook_seconds=run.seconds / repeats if run.hooks else None)


#: ``--quick`` halves inputs at least this tall (the published sizes, 256 x 128 and 384 x 128); the demo configs'
#: inputs are already small, and a part model (PCB, SSAN) or a fixed-size image tower (IRRA) refuses them halved
QUICK_HALVING_MIN_HEIGHT = 256


def halve_input_size(pipeline):
    """Half the resize / crop size of every transform of ``pipeline`` when its input is a published size."""
    sizes = [transform[key] for transform in pipeline for key in ('scale', 'crop_size') if key in transform]
    if not sizes or max(max(size) for size in sizes) < QUICK_HALVING_MIN_HEIGHT:
        return
    for transform in pipeline:
        for key in ('scale', 'crop_size'):
            if key in transform:
                transform[key] = tuple(v // 2 for v in transform[key])


def train_sizes(args):
    """``(batch size, repeats)`` of the train section (and of the loader section's model column)."""
    return (4, 1) if args.quick else (16, 3)


class StepThroughput:
    """Images per second of each case's training step on the CPU, measured once per run.

    The train section records what it measures; the loader section asks for the same numbers and measures a
    case itself when the train section did not run.
    """

    def __init__(self):
        self._rates: Dict[str, float] = {}

    def record(self, case: TrainCase, batch_size: int, step_seconds: float) -> None:
        self._rates[case.config] = batch_size / step_seconds

    def get(self, args, case: TrainCase) -> float:
        if case.config not in self._rates:
            batch_size, _ = train_sizes(args)
            with tempfile.TemporaryDirectory() as work_dir:
                result = time_case(args, case, batch_size, 1, work_dir)
            self.record(case, batch_size, result['step'])
        return self._rates[case.config]


def train_section(args, state) -> Section:
    """Each case's training step (forward, losses, backward, optimizer) / forward + backward of its test
    features. ``args.train_cases``: the :class:`TrainCase` list; ``state.step_throughput``: where the step
    rates are recorded for the loader section."""
    batch_size, repeats = train_sizes(args)
    size = 'half the published input size' if args.quick else 'the published input size'
    sec = Section(f'Training step per method (batch {batch_size}, {size}, published model and optimizer, '
                  f'random init)', ['method', 'reference pass (forward + backward)', 'reference s', 'step s',
                                    'step / reference', 'target'])
    for case in args.train_cases:
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as work_dir:
            result = time_case(args, case, batch_size, repeats, work_dir)
        label = case_label(case)
        print(f'   {label}: {time.perf_counter() - start:.0f} s', flush=True)
        state.step_throughput.record(case, batch_size, result['step'])
        ratio = result['step'] / result['reference']
        sec.rows.append([label, result['reference_pass'], fmt(result['reference']), fmt(result['step']),
                         f'**{ratio:.2f}**', f'<= {case.target}'])
        if result['hook_seconds'] is not None:
            sec.notes.append(f'{label}: the per-iteration callbacks of its custom hooks '
                             f'({", ".join(result["hooks"])}, as in the last epoch) '
                             f'{result["hook_seconds"] * 1e3:.1f} ms per step = '
                             f'**{100 * result["hook_seconds"] / result["step"]:.2f}%** of the step.')
        gc.collect()
    sec.notes += [
        'step = `model.train_step` (data preprocessor, forward, every loss, backward, optimizer update) on one '
        'batch of the demo data through the training pipeline of the config; the reference pass runs the '
        "model's test features (`embed_image` / `embed_text`, the inference network) forward and backward on "
        'every input of the same batch that the loss reads, so the ratio is the cost of the training heads, '
        'losses and optimizer.',
        f'times are the best of {repeats} run(s) after one warm-up run.',
    ]
    if args.quick:
        sec.notes.append('--quick: small batch and half-size inputs make the heads a larger share of the step than '
                         'in training; the targets are for the published setting (full run, docs/benchmark.md).')
    return sec
