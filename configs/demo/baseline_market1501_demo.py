# CPU demo of the baseline: generated Market-1501 (tools/make_demo_data.py), half-width ResNet-18 from
# scratch, 128x64 images, 4 epochs (about a minute on one CPU core).
_base_ = ['../baseline_market1501.py']

data_root = 'data/demo/market1501'

model = dict(
    # random init (no download); half width: 0.5 s per batch of 32 on one core instead of 1.8 s
    backbone=dict(depth=18, base_channels=32, stem_channels=32, init_cfg=None),
    num_classes=30,  # identities of the demo training set
)

train_batch_size = 32  # 8 ids x 4 images
train_dataloader = dict(batch_size=train_batch_size, num_workers=0, persistent_workers=False,
                        sampler=dict(batch_size=train_batch_size),
                        dataset=dict(data_root=data_root))
val_dataloader = dict(batch_size=64, num_workers=0, persistent_workers=False,
                      dataset=dict(data_root=data_root))
test_dataloader = val_dataloader

optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=1,
                        convert_to_iter_based=True)]
train_cfg = dict(max_epochs=4, val_interval=1)
# the demo trains its own batch and lr at any number of processes (its test thresholds were measured
# with them); --auto-scale-lr scales by the number of processes
auto_scale_lr = dict(base_batch_size=train_batch_size, enable=False)
default_hooks = dict(logger=dict(interval=5))
