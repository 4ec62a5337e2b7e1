# LLCM (data/llcm, the low-light visible-infrared benchmark of Zhang & Wang, CVPR 2023; see docs/datasets.md):
# train on the 713 ids of idx/train_{vis,nir}.txt; test = the 351 ids of idx/test_id.txt, evaluated as the
# authors' DEEN/test.py does: infrared queries (cameras 1, 2, 4-9) against a visible gallery of one image per
# (id, camera) drawn per trial (random.seed(trial), 10 trials averaged), an item of the query's identity in its
# camera number removed, identity-once CMC (ReIDMetric protocol='llcm'); direction='vis2ir' for the other one.
# Training pipelines and sampler as the other visible-infrared sets here (configs/_base_/datasets/sysu_mm01.py:
# 288x144, P=8 identities x (K=4 visible + K=4 infrared) = 64, flip, pad 10 + random crop, random erasing). The
# authors' DEEN trains LLCM at 384x144 with P=6 x (4 + 4) and random greyscale; a method config that wants
# that changes img_scale / the pipelines and the batch (sampler too), as configs/_base_/datasets/sysu_mm01.py says.
dataset_type = 'LLCM'
data_root = 'data/llcm'
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
    dataset=dict(type=dataset_type, data_root=data_root, split='train', pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=128,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='reid_collate'),
    dataset=dict(type=dataset_type, data_root=data_root, split='test', pipeline=test_pipeline))
val_evaluator = dict(type='ReIDMetric', protocol='llcm', direction='ir2vis', trials=10)
test_dataloader = val_dataloader
test_evaluator = val_evaluator
