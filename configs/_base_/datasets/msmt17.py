# MSMT17 (data/msmt17 = torchreid's <root>/msmt17, holding MSMT17_V1/ or MSMT17_V2/; see docs/datasets.md): train =
# list_train.txt (1,041 ids; list_val.txt is not trained on, as torchreid without combineall); test =
# list_query.txt vs list_gallery.txt (3,060 ids, 15 cameras; same id + same camera removed).
# 256x128 inputs, P=16 identities x K=4 images per batch (BoT / fast-reid), augmentation as fast-reid:
# flip, pad 10 + random crop, random erasing (mmpretrain's, on uint8 HWC, filled with the BGR ImageNet mean).
dataset_type = 'MSMT17'
data_root = 'data/msmt17'
img_scale = (128, 256)  # (W, H), as mmcv's Resize takes it
train_batch_size = 64  # per GPU; the sampler needs it too (mmengine does not pass it to samplers)

train_pipeline = [
    dict(type='LoadReIDImage'),
    dict(type='Resize', scale=img_scale),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomCrop', crop_size=img_scale[::-1], padding=10),  # fast-reid Pad(10) + RandomCrop
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
    sampler=dict(type='IdentitySampler', num_instances=4, batch_size=train_batch_size),
    collate_fn=dict(type='reid_collate'),
    dataset=dict(type=dataset_type, data_root=data_root, split='train', pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=128,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='reid_collate'),
    dataset=dict(type=dataset_type, data_root=data_root, split='test', pipeline=test_pipeline))
val_evaluator = dict(type='ReIDMetric', protocol='market')  # drop same id + same camera; junk ignored
test_dataloader = val_dataloader
test_evaluator = val_evaluator
