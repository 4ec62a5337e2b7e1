"""Convert a torchreid (deep-person-reid) yacs YAML config into an MMEngine config of this plugin.

    python tools/convert_torchreid_config.py im_osnet_x1_0_softmax_256x128_amsgrad_cosine.yaml \
        configs/osnet_market1501_torchreid.py [--num-classes N]

The YAML is merged into torchreid's default config (``scripts/default_config.py`` of deep-person-reid, which the
pip package does not ship; reproduced in :data:`DEFAULTS`), exactly as torchreid's ``main.py`` does, so an
unknown key or a wrongly typed value fails as it would in torchreid. The result inherits the plugin's
``_base_`` files (model, schedule, runtime) and trains :class:`ReIDBaseline` on a ``TorchreidBackbone`` with
``TorchreidDataset`` data, torchreid's optimiser, LR schedule, sampler, augmentations and losses, and
evaluates with ``ReIDMetric``. The head is the plugin's (BNNeck + bias-free classifier), not torchreid's.
Keys whose value has no equivalent either fail (:data:`UNSUPPORTED`) or convert with a warning
(:data:`APPROXIMATED`), naming the key; the warnings are also written into the output's header.
"""
import argparse
import copy
import keyword
import os.path as osp
import sys
import textwrap
import warnings


REPO = osp.abspath(osp.join(osp.dirname(__file__), '..'))
# `python tools/convert_torchreid_config.py` from a source checkout works without installing the package.
sys.path.insert(0, REPO)

#: Training identities of the data sets whose count is fixed (default protocol, no combineall).
TRAIN_IDS = {'market1501': 751, 'dukemtmcreid': 702, 'msmt17': 1041, 'cuhk03': 767}
OPTIMIZERS = ('adam', 'amsgrad', 'sgd', 'rmsprop', 'radam')
SAMPLERS = {
    'RandomSampler': lambda c: dict(type='DefaultSampler', shuffle=True),
    'SequentialSampler': lambda c: dict(type='DefaultSampler', shuffle=False),
    # mmengine does not pass the batch size to samplers: IdentitySampler needs it explicitly
    'RandomIdentitySampler': lambda c: dict(type='IdentitySampler', num_instances=c.sampler.num_instances,
                                            batch_size=c.train.batch_size),
}
TRANSFORMS = ('random_flip', 'random_crop', 'color_jitter', 'random_erase')
BASE_FILES = ('models/reid_baseline_r50.py', 'schedules/adam_120e.py', 'default_runtime.py')


class Ref(str):
    """A value written as a name of the output config (``test_dataloader = val_dataloader``)."""


def leaf_keys(tree, prefix=''):
    """Dotted names of the leaves of a nested dict, e.g. ``['model.name', ...]``."""
    keys = []
    for name, value in tree.items():
        keys += leaf_keys(value, f'{prefix}{name}.') if isinstance(value, dict) else [prefix + name]
    return keys


def get_key(cfg, key):
    """Value of a dotted ``key`` of a (nested) CfgNode."""
    for part in key.split('.'):
        cfg = cfg[part]
    return cfg


def load_torchreid_cfg(src):
    """Merge the YAML file ``src`` into :data:`DEFAULTS` like torchreid does (yacs: unknown keys / types fail)."""
    cfg = CfgNode(copy.deepcopy(DEFAULTS))
    try:
        cfg.merge_from_file(src)
    except KeyError as err:  # yacs: 'Non-existent config key: train.foo'
        raise KeyError(f'{src}: {err.args[0]} (not a key of torchreid\'s default config)') from err
    except ValueError as err:  # yacs: type mismatch, naming the key
        raise ValueError(f'{src}: {err}') from err
    return cfg


class TorchreidConfigConverter:
    """Translate one merged torchreid config into the assignments of an MMEngine config.

    Args:
        cfg (CfgNode): torchreid config merged into :data:`DEFAULTS` (:func:`load_torchreid_cfg`).
        src (str): its file name, for messages.
        num_classes (int, optional): training identities; needed when :data:`TRAIN_IDS` cannot tell.
    """

    def __init__(self, cfg, src, num_classes=None):
        self.cfg = cfg
        self.src = src
        self.num_classes = num_classes
        self.notes = []

    def fail(self, key, message):
        raise ValueError(f'{self.src}: torchreid key `{key}` = {get_key(self.cfg, key)!r}: {message}')

    def note(self, key, message):
        """Warn that ``key`` is only approximated; the note also goes into the output's header."""
        text = f'torchreid key `{key}` = {get_key(self.cfg, key)!r}: {message}'
        self.notes.append(text)
        warnings.warn(f'{self.src}: {text}', UserWarning, stacklevel=3)

    def check_keys(self):
        defaults = CfgNode(copy.deepcopy(DEFAULTS))
        for key in leaf_keys(DEFAULTS):
            if get_key(self.cfg, key) == get_key(defaults, key):
                continue
            if key in UNSUPPORTED:
                self.fail(key, UNSUPPORTED[key])
            if key in APPROXIMATED:
                self.note(key, APPROXIMATED[key])

    def convert(self):
        """Return ``[(variable, value), ...]`` of the output config (after ``_base_``)."""
        self.check_keys()
        if self.cfg.data.type != 'image':
            self.fail('data.type', "only image ReID is supported ('image')")
        return [('model', self.model()), *self.data(), ('optim_wrapper', self.optim_wrapper()),
                ('param_scheduler', self.param_scheduler()), ('train_cfg', self.train_cfg()),
                ('auto_scale_lr', dict(base_batch_size=self.cfg.train.batch_size)),
                ('randomness', dict(seed=self.cfg.train.seed))]

    # ------------------------------------------------------------------ model
    def model(self):
        c = self.cfg
        backbone = dict(_delete_=True, type='TorchreidBackbone', name=c.model.name, pretrained=c.model.pretrained)
        if c.model.load_weights:  # torchreid loads them over the ImageNet weights: no need to download those
            backbone.update(pretrained=False, init_cfg=dict(type='Pretrained', checkpoint=c.model.load_weights))
        epsilon = 0.1 if c.loss.softmax.label_smooth else 0.0  # torchreid's CrossEntropyLoss(eps=0.1)
        if c.loss.name == 'softmax':
            loss_id, loss_triplet = dict(type='CrossEntropyLabelSmoothLoss', epsilon=epsilon, loss_weight=1.0), None
        elif c.loss.name == 'triplet':  # torchreid's triplet engine: weight_t * triplet + weight_x * softmax
            loss_id = dict(type='CrossEntropyLabelSmoothLoss', epsilon=epsilon, loss_weight=c.loss.triplet.weight_x)
            loss_triplet = dict(type='TripletLoss', margin=c.loss.triplet.margin,
                                loss_weight=c.loss.triplet.weight_t) if c.loss.triplet.weight_t > 0 else None
        else:
            self.fail('loss.name', "expected 'softmax' or 'triplet'")
        preprocessor = dict(mean=[round(m * 255, 3) for m in c.data.norm_mean],
                            std=[round(s * 255, 3) for s in c.data.norm_std])
        return dict(backbone=backbone, num_classes=self.train_ids(), loss_id=loss_id, loss_triplet=loss_triplet,
                    data_preprocessor=preprocessor)

    def train_ids(self):
        """Training identities: the sum over ``data.sources`` (one label space, as torchreid concatenates them)."""
        c = self.cfg
        if self.num_classes:
            return int(self.num_classes)
        sources = list(c.data.sources)
        if all(s in TRAIN_IDS for s in sources) and not (c.data.combineall or c.cuhk03.classic_split):
            return sum(TRAIN_IDS[s] for s in sources)
        self.fail('data.sources', 'the number of training identities is not known for this data set / protocol '
                                  '(combineall, classic split); give it with --num-classes N')

    # ------------------------------------------------------------------ data
    def data(self):
        """Loaders and evaluators; several ``data.sources`` train as one ``CombinedReIDDataset`` and several
        ``data.targets`` are tested as one, a row per target (``MultiSetReIDMetric``), as torchreid does."""
        c = self.cfg
        sources, targets = self.dataset_names('data.sources'), self.dataset_names('data.targets')
        loader = dict(num_workers=c.data.workers, persistent_workers=c.data.workers > 0,
                      collate_fn=dict(type='reid_collate'))
        if c.sampler.train_sampler not in SAMPLERS:
            self.fail('sampler.train_sampler', f'supported: {sorted(SAMPLERS)}')
        train = dict(batch_size=c.train.batch_size, **loader, drop_last=True,  # torchreid drops the last batch
                     sampler=SAMPLERS[c.sampler.train_sampler](c),
                     dataset=self.datasets(sources, 'train', self.train_pipeline()))
        val = dict(batch_size=c.test.batch_size, **loader, sampler=dict(type='DefaultSampler', shuffle=False),
                   dataset=self.datasets(targets, 'test', self.test_pipeline()))
        assignments = [('train_dataloader', train), ('val_dataloader', val),
                       ('test_dataloader', Ref('val_dataloader')), ('val_evaluator', self.evaluator(targets)),
                       ('test_evaluator', Ref('val_evaluator'))]
        return assignments

    def dataset_names(self, key):
        names = list(get_key(self.cfg, key))
        if not names:
            self.fail(key, 'name at least one data set')
        from plugins.core.datasets.torchreid_bridge import torchreid_image_datasets
        known = torchreid_image_datasets()
        unknown = [n for n in names if n not in known]
        if unknown:
            self.fail(key, f'{unknown} not torchreid image data sets; known: {sorted(known)}')
        if len(set(names)) != len(names):
            self.fail(key, 'a data set is named twice')
        return names

    def datasets(self, names, split, pipeline):
        """One data set config, or a ``CombinedReIDDataset`` of several with the pipeline on the wrapper."""
        if len(names) == 1:
            return self.dataset(names[0], split, pipeline)
        return dict(type='CombinedReIDDataset', split=split, pipeline=pipeline,
                    datasets=[self.dataset(name, split) for name in names])

    def dataset(self, name, split, pipeline=None):
        c = self.cfg
        extra = dict(split_id=c.data.split_id, combineall=c.data.combineall and split == 'train',
                     cuhk03_labeled=c.cuhk03.labeled_images, cuhk03_classic_split=c.cuhk03.classic_split,
                     market1501_500k=c.market1501.use_500k_distractors)
        extra = {k: v for k, v in extra.items() if v}  # torchreid's defaults are all falsy: keep the rest
        dataset = dict(type='TorchreidDataset', name=name, root=c.data.root, split=split)
        if pipeline is not None:
            dataset['pipeline'] = pipeline
        if extra:
            dataset['torchreid_kwargs'] = extra
        return dataset

    def train_pipeline(self):
        """torchreid's ``build_transforms`` order: resize, flip, crop, color jitter, (normalise), erase."""
        c = self.cfg
        height, width = c.data.height, c.data.width
        unknown = [t for t in c.data.transforms if t.lower() not in TRANSFORMS]
        if unknown:
            self.fail('data.transforms', f'unsupported {unknown}; supported: {list(TRANSFORMS)}')
        names = [t.lower() for t in c.data.transforms]
        pipeline = [dict(type='LoadReIDImage'), dict(type='Resize', scale=(width, height))]
        if 'random_flip' in names:
            pipeline.append(dict(type='RandomFlip', prob=0.5, direction='horizontal'))
        if 'random_crop' in names:  # Random2DTranslation: with p=0.5, enlarge x1.125 then crop back
            enlarged = (int(round(width * 1.125)), int(round(height * 1.125)))
            pipeline.append(dict(type='RandomApply', prob=0.5, transforms=[
                dict(type='Resize', scale=enlarged), dict(type='RandomCrop', crop_size=(height, width))]))
        if 'color_jitter' in names:
            pipeline.append(dict(type='ColorJitter', brightness=0.2, contrast=0.15, saturation=0., hue=0.))
        if 'random_erase' in names:  # torchreid erases with the mean (0 after normalisation); images are BGR here
            fill = tuple(int(round(m * 255)) for m in c.data.norm_mean[::-1])
            pipeline.append(dict(type='RandomErasing', erase_prob=0.5, mode='const', fill_color=fill))
        return pipeline + [dict(type='PackReIDInputs')]

    def test_pipeline(self):
        c = self.cfg
        return [dict(type='LoadReIDImage'), dict(type='Resize', scale=(c.data.width, c.data.height)),
                dict(type='PackReIDInputs')]

    def evaluator(self, targets):
        c = self.cfg
        if c.test.dist_metric not in ('euclidean', 'cosine'):
            self.fail('test.dist_metric', "expected 'euclidean' or 'cosine'")
        options = dict(dist=c.test.dist_metric, norm_feat=c.test.normalize_feature, rerank=c.test.rerank)
        if len(targets) == 1:
            return dict(type='ReIDMetric', protocol='market', **options)
        return dict(type='MultiSetReIDMetric', sets={name: dict(protocol='market') for name in targets}, **options)

    # ------------------------------------------------------------------ schedule
    def optim_wrapper(self):
        c, optim = self.cfg, self.cfg.train.optim
        common = dict(lr=c.train.lr, weight_decay=c.train.weight_decay)
        adam_betas = (c.adam.beta1, c.adam.beta2)
        if optim in ('adam', 'amsgrad'):
            optimizer = dict(type='Adam', **common, betas=adam_betas, amsgrad=optim == 'amsgrad')
        elif optim == 'sgd':
            optimizer = dict(type='SGD', **common, momentum=c.sgd.momentum, dampening=c.sgd.dampening,
                             nesterov=c.sgd.nesterov)
        elif optim == 'rmsprop':
            optimizer = dict(type='RMSprop', **common, momentum=c.sgd.momentum, alpha=c.rmsprop.alpha)
        elif optim == 'radam':
            optimizer = dict(type='RAdam', **common, betas=adam_betas)
        else:
            self.fail('train.optim', f'supported: {list(OPTIMIZERS)}')
        # _delete_: torchreid decays every parameter, unlike the base schedule's paramwise_cfg
        wrapper = dict(_delete_=True, optimizer=optimizer)
        if c.train.staged_lr:
            wrapper['paramwise_cfg'] = dict(custom_keys=self.staged_lr_keys())
        return wrapper

    def staged_lr_keys(self):
        """torchreid's staged lr: ``train.new_layers`` (children of its model) keep the lr, the rest x mult.

        Here the whole torchreid model is ``backbone.model``; the head (BNNeck, classifier) is new.
        """
        keys = {'backbone': dict(lr_mult=self.cfg.train.base_lr_mult)}
        for name in self.cfg.train.new_layers:
            if name != 'classifier':  # torchreid's classifier is replaced by the (new) head
                keys[f'backbone.model.{name}'] = dict(lr_mult=1.0)  # longer keys win in mmengine
        return keys

    def param_scheduler(self):
        c = self.cfg
        name, stepsize = c.train.lr_scheduler, list(c.train.stepsize)
        if name == 'single_step':  # torchreid takes the last element of a list
            return [dict(type='StepLR', by_epoch=True, step_size=stepsize[-1], gamma=c.train.gamma)]
        if name == 'multi_step':
            return [dict(type='MultiStepLR', by_epoch=True, milestones=stepsize, gamma=c.train.gamma)]
        if name == 'cosine':
            return [dict(type='CosineAnnealingLR', by_epoch=True, T_max=c.train.max_epoch, begin=0,
                         end=c.train.max_epoch)]
        self.fail('train.lr_scheduler', "supported: 'single_step', 'multi_step', 'cosine'")

    def train_cfg(self):
        c = self.cfg
        # torchreid evaluates every eval_freq epochs (-1: never) and always after the last epoch
        interval = c.test.eval_freq if c.test.eval_freq > 0 else c.train.max_epoch
        train_cfg = dict(by_epoch=True, max_epochs=c.train.max_epoch, val_interval=interval)
        if c.test.start_eval > 0:
            train_cfg['val_begin'] = c.test.start_eval
        return train_cfg


# ---------------------------------------------------------------------- writing
def is_identifier(key):
    return isinstance(key, str) and key.isidentifier() and not keyword.iskeyword(key)


def format_value(value, indent=0, width=110):
    """Python source of ``value`` (``dict(...)`` style), split over lines when longer than ``width``."""
    inline = _inline(value)
    if len(inline) + indent <= width or not isinstance(value, (dict, list, tuple)) or not value:
        return inline
    pad = ' ' * (indent + 4)
    if isinstance(value, dict):
        use_call = all(is_identifier(k) for k in value)
        items = [f'{pad}{k}={format_value(v, indent + 4)},' if use_call else
                 f'{pad}{k!r}: {format_value(v, indent + 4)},' for k, v in value.items()]
        opening, closing = ('dict(', ')') if use_call else ('{', '}')
    else:
        items = [f'{pad}{format_value(v, indent + 4)},' for v in value]
        opening, closing = ('[', ']') if isinstance(value, list) else ('(', ')')
    return opening + '\n' + '\n'.join(items) + '\n' + ' ' * indent + closing


def _inline(value):
    if isinstance(value, Ref):
        return str(value)
    if isinstance(value, dict):
        if all(is_identifier(k) for k in value):
            return 'dict(' + ', '.join(f'{k}={_inline(v)}' for k, v in value.items()) + ')'
        return '{' + ', '.join(f'{k!r}: {_inline(v)}' for k, v in value.items()) + '}'
    if isinstance(value, list):
        return '[' + ', '.join(_inline(v) for v in value) + ']'
    if isinstance(value, tuple):
        return '(' + ', '.join(_inline(v) for v in value) + (',)' if len(value) == 1 else ')')
    return repr(value)


def render(src, out, assignments, notes):
    """Text of the output config: header, ``_base_``, assignments.

    ``_base_`` is relative to ``out``'s folder when ``out`` is inside this repository, absolute otherwise.
    """
    bases = [osp.join(REPO, 'configs', '_base_', f) for f in BASE_FILES]
    out_dir = osp.dirname(osp.abspath(out))
    if osp.commonpath([out_dir, REPO]) == REPO:
        bases = [osp.relpath(b, out_dir) for b in bases]
    lines = [f'# Converted from the torchreid config {osp.basename(src)} by tools/convert_torchreid_config.py.',
             '# Model: the BoT baseline of _base_/models/reid_baseline_r50.py (BNNeck head) on a TorchreidBackbone; '
             'data: TorchreidDataset.']
    for note in notes:
        lines += textwrap.wrap(note, 116, initial_indent='# NOTE: ', subsequent_indent='#   ')
    lines += [f'_base_ = {format_value(bases)}', '']
    lines += [f'{name} = {format_value(value)}' for name, value in assignments]
    return '\n'.join(lines) + '\n'


def convert_file(src, out, num_classes=None):
    """Convert the torchreid YAML ``src`` into the MMEngine config ``out``; return the conversion notes."""
    converter = TorchreidConfigConverter(load_torchreid_cfg(src), src, num_classes)
    assignments = converter.convert()
    with atomic_write(out, 'w') as f:
        f.write(render(src, out, assignments, converter.notes))
    return converter.notes


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Convert a torchreid YAML config into an MMEngine config')
    parser.add_argument('src', help='torchreid yacs YAML config')
    parser.add_argument('out', help='output MMEngine config (.py)')
    parser.add_argument('--num-classes', type=int,
                        help='training identities (needed when the data set / protocol does not fix them)')
    return parser.parse_args(argv)


if __name__ == '__main__':
    parse_args()  # --help and usage errors answer here, before torch and the plugin are imported

from yacs.config import CfgNode  # noqa: E402
from plugins.core.utils.atomic_write import atomic_write  # noqa: E402
from plugins.core.utils.torchreid_config import APPROXIMATED, DEFAULTS, UNSUPPORTED  # noqa: E402


def main(argv=None):
    args = parse_args(argv)
    notes = convert_file(args.src, args.out, args.num_classes)
    print(f'wrote {args.out} ({len(notes)} note(s))')


if __name__ == '__main__':
    main()
