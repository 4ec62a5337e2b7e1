"""torchreid's default config (deep-person-reid ``scripts/default_config.py``, which the pip package does not ship)
and how each of its keys converts into a config of this plugin (``tools/convert_torchreid_config.py``).

Every key of :data:`DEFAULTS` is in exactly one of :data:`MAPPED`, :data:`IGNORED`, :data:`APPROXIMATED` and
:data:`UNSUPPORTED` (``tests/ecosystem/test_convert_torchreid_config.py`` checks it).
"""

#: torchreid's default config (deep-person-reid ``scripts/default_config.py``), plus ``test.visactmap``,
#: which torchreid's own example configs still set.
DEFAULTS = {
    'model': dict(name='resnet50', pretrained=True, load_weights='', resume=''),
    'data': dict(type='image', root='reid-data', sources=['market1501'], targets=['market1501'], workers=4,
                 split_id=0, height=256, width=128, combineall=False, transforms=['random_flip'], k_tfm=1,
                 norm_mean=[0.485, 0.456, 0.406], norm_std=[0.229, 0.224, 0.225], save_dir='log',
                 load_train_targets=False),
    'market1501': dict(use_500k_distractors=False),
    'cuhk03': dict(labeled_images=False, classic_split=False, use_metric_cuhk03=False),
    'sampler': dict(train_sampler='RandomSampler', train_sampler_t='RandomSampler', num_instances=4, num_cams=1,
                    num_datasets=1),
    'video': dict(seq_len=15, sample_method='evenly', pooling_method='avg'),
    'train': dict(optim='adam', lr=0.0003, weight_decay=5e-4, max_epoch=60, start_epoch=0, batch_size=32,
                  fixbase_epoch=0, open_layers=['classifier'], staged_lr=False, new_layers=['classifier'],
                  base_lr_mult=0.1, lr_scheduler='single_step', stepsize=[20], gamma=0.1, print_freq=20, seed=1),
    'sgd': dict(momentum=0.9, dampening=0., nesterov=False),
    'rmsprop': dict(alpha=0.99),
    'adam': dict(beta1=0.9, beta2=0.999),
    'loss': dict(name='softmax', softmax=dict(label_smooth=True),
                 triplet=dict(margin=0.3, weight_t=1., weight_x=0.)),
    'test': dict(batch_size=100, dist_metric='euclidean', normalize_feature=False, ranks=[1, 5, 10, 20],
                 evaluate=False, eval_freq=-1, start_eval=0, rerank=False, visrank=False, visrank_topk=10,
                 visactmap=False),
}

#: Keys translated into the output config.
MAPPED = (
    'model.name', 'model.pretrained', 'model.load_weights', 'data.type', 'data.root', 'data.sources',
    'data.targets', 'data.workers', 'data.split_id', 'data.height', 'data.width', 'data.combineall',
    'data.transforms', 'data.norm_mean', 'data.norm_std', 'market1501.use_500k_distractors',
    'cuhk03.labeled_images', 'cuhk03.classic_split', 'sampler.train_sampler', 'sampler.num_instances',
    'train.optim', 'train.lr', 'train.weight_decay', 'train.max_epoch', 'train.batch_size', 'train.staged_lr',
    'train.new_layers', 'train.base_lr_mult', 'train.lr_scheduler', 'train.stepsize', 'train.gamma', 'train.seed',
    'sgd.momentum', 'sgd.dampening', 'sgd.nesterov', 'rmsprop.alpha', 'adam.beta1', 'adam.beta2', 'loss.name',
    'loss.softmax.label_smooth', 'loss.triplet.margin', 'loss.triplet.weight_t', 'loss.triplet.weight_x',
    'test.batch_size', 'test.dist_metric', 'test.normalize_feature', 'test.eval_freq', 'test.start_eval',
    'test.rerank',
)
#: Keys that do not change what is trained or measured (logging, output folder, options of rejected modes).
IGNORED = (
    'data.save_dir', 'train.print_freq', 'train.open_layers', 'sampler.train_sampler_t', 'sampler.num_cams',
    'sampler.num_datasets', 'video.seq_len', 'video.sample_method', 'video.pooling_method', 'test.visrank_topk',
)
#: key -> why a non-default value is converted with a warning (the run then differs from torchreid's).
APPROXIMATED = {
    'train.fixbase_epoch': 'torchreid first trains only train.open_layers for that many epochs; there is no such '
                           'stage here, every layer trains from the first epoch',
    'test.evaluate': 'test-only runs are `python tools/test.py CONFIG CHECKPOINT` here',
    'test.ranks': 'ReIDMetric always reports R1, R5, R10, R20, mAP and mINP',
    'test.visrank': 'ranked-list visualisation is not part of the config (see the visualisation tools)',
    'test.visactmap': 'activation maps are not part of the config (see the visualisation tools)',
}
#: key -> why a non-default value cannot be converted.
UNSUPPORTED = {
    'data.k_tfm': 'several augmented copies per image (k_tfm > 1) are not supported',
    'data.load_train_targets': 'training on the target data sets (domain adaptation) is not supported',
    'cuhk03.use_metric_cuhk03': "the CUHK03 classic metric is not implemented by ReIDMetric",
    'model.resume': "torchreid checkpoints are not runner checkpoints; resume with `tools/train.py --resume`",
    'train.start_epoch': 'resuming at an epoch is done with `tools/train.py --resume`',
}
