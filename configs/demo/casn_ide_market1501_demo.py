# CPU demo of CASN(IDE): generated Market-1501 (python tools/make_demo_data.py data/demo --datasets market1501),
# half-width ResNet-18 from scratch (no download), 128x64 images, 3 epochs. Same data settings as the PCB demo.
_base_ = ['../casn_ide_market1501.py']

data_root = 'data/demo/market1501'
img_scale = (64, 128)  # (W, H): the demo images' own size
train_batch_size = 32  # 8 ids x 4 images -> 16 pairs

model = dict(
    backbone=dict(depth=18, base_channels=32, stem_channels=32, init_cfg=None),  # random init: no download
    num_classes=30,  # identities of the demo training set
    head_cfg=dict(embed_dim=256),
)

train_pipeline = [
    dict(type='LoadReIDImage'),
    dict(type='Resize', scale=img_scale),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackReIDInputs'),
]
test_pipeline = [
    dict(type='LoadReIDImage'),
    dict(type='Resize', scale=img_scale),
    dict(type='PackReIDInputs'),
]
train_dataloader = dict(batch_size=train_batch_size, num_workers=0, persistent_workers=False,
                        sampler=dict(batch_size=train_batch_size),
                        dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(batch_size=64, num_workers=0, persistent_workers=False,
                      dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader

# lr 0.01, not the paper's 0.03: from scratch on the demo set the IDE loss rose again after the warm-up to 0.03
# (epoch means 5.3 -> 5.8 -> 6.7 and 4.8 -> 4.7 -> 5.9 at seeds 0 and 2, R1 not improving); at 0.01 it falls
# every epoch at seeds 0, 1, 2 (last / first epoch 0.74, 0.72, 0.81; mAP 22.6 -> 47.7, 32.7 -> 40.5, 33.5 -> 42.4)
optim_wrapper = dict(optimizer=dict(lr=0.01))
# one warm-up epoch from scratch, then the demo's lr
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=1, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=3, val_interval=1)
# the demo trains its own batch and lr at any number of processes (its test thresholds were measured
# with them); --auto-scale-lr scales by the number of processes
auto_scale_lr = dict(base_batch_size=train_batch_size, enable=False)
default_hooks = dict(logger=dict(interval=5))
custom_hooks = [dict(type='GradCAMHook', num_images=4)]
