# RegDB (data/regdb): trial t of 10 (idx/*_{t}.txt), 206 train / 206 test ids; visible->thermal by default
# (val_evaluator direction='t2v' for thermal->visible). Report the mean over the trials you run (trial=1..10).
# 288x144 inputs (AGW / CAJ / CAL), batch = P=8 identities x (K=4 visible + K=4 infrared) = 64, flip,
# pad 10 + random crop, random erasing. Channel-level augmentation (ChannelExchange, ChannelRandomErasing,
# RandomGrayscaleReID) is optional: a method config adds it by redefining train_pipeline (e.g.
# train_pipeline = _base_.train_pipeline[:4] + [dict(type='ChannelExchange')] + _base_.train_pipeline[4:]) and
# train_dataloader = dict(dataset=dict(pipeline=train_pipeline)).
dataset_type = 'RegDB'
data_root = 'data/regdb'
trial = 1  # which of the 10 standard splits
img_scale = (144, 288)  # (W, H), as mmcv's Resize takes it
train_batch_size = 64  # per GPU = 2 * P * K; the sampler needs it too (mmengine does not pass it to samplers)

train_pipeline = [
    dict(type='LoadReIDImage'),  # infrared images are read as 3 identical channels
    dict(type='Resize', scale=img_scale),
    dict(type='RandomCrop', crop_size=img_scale[::-1], padding=10),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomErasing', erase_prob=0.5, mode='const', fill_color=(104, 116, 124)),
    dict(type='PackReIDInputs'),
]
test_pipeline = [
    dict(type='LoadReIDImage'),
    dict(type='Resize', scale=img_scale),
    dict(type='PackReIDInputs'),
]

train_dataloader = dict(
    batch_size=train_batch_size,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='CrossModalitySampler', num_instances=4, batch_size=train_batch_size),
    collate_fn=dict(type='reid_collate'),
    dataset=dict(type=dataset_type, data_root=data_root, split='train', pipeline=train_pipeline, trial=trial))
val_dataloader = dict(
    batch_size=128,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='reid_collate'),
    dataset=dict(type=dataset_type, data_root=data_root, split='test', pipeline=test_pipeline, trial=trial))
val_evaluator = dict(type='ReIDMetric', protocol='regdb', direction='v2t')
test_dataloader = val_dataloader
test_evaluator = val_evaluator
