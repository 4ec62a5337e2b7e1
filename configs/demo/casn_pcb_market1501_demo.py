# CPU demo of CASN(PCB): generated Market-1501 (python tools/make_demo_data.py data/demo --datasets market1501),
# ResNet-18 from scratch (no download), 128x64 images (8x4 feature map, 6 stripes), 3 epochs. The IDE demo
# (configs/demo/casn_ide_market1501_demo.py) inherits this file: its data, schedule and hooks are the same.
_base_ = ['../casn_pcb_market1501.py']

data_root = 'data/demo/market1501'
img_scale = (64, 128)  # (W, H): the demo images' own size
train_batch_size = 32  # 8 ids x 4 images -> 16 pairs

model = dict(
    # ResNet-18 at half width, random init (no download): ~4x cheaper than ResNet-18 on a laptop CPU
    backbone=dict(depth=18, base_channels=32, stem_channels=32, init_cfg=None),
    num_classes=30,  # identities of the demo training set
    head_cfg=dict(stripe_dim=128),
)

train_pipeline = [
    dict(type='LoadReIDImage'),
    dict(type='Resize', scale=img_scale),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackReIDInputs'),
]
# the published evaluation pipeline at the demo's image size
test_pipeline = [dict(t, scale=img_scale) if t['type'] == 'Resize' else t for t in _base_.test_pipeline]
train_dataloader = dict(batch_size=train_batch_size, num_workers=0, persistent_workers=False,
                        sampler=dict(batch_size=train_batch_size),
                        dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(batch_size=64, num_workers=0, persistent_workers=False,
                      dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(optimizer=dict(lr=0.03))
# one warm-up epoch from scratch, then the paper's lr (its x0.1 step comes after the demo's last epoch)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=1, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=3, val_interval=1)
# the demo trains its own batch and lr at any number of processes (its test thresholds were measured
# with them); --auto-scale-lr scales by the number of processes
auto_scale_lr = dict(base_batch_size=train_batch_size, enable=False)
default_hooks = dict(logger=dict(interval=5))
custom_hooks = [dict(type='GradCAMHook', num_images=4)]
