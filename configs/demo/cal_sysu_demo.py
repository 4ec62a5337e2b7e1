# CPU demo of CAL: generated SYSU-MM01 (python tools/make_demo_data.py --datasets sysu-mm01), a slim
# ResNet-18 from scratch (no download), 96x48 inputs, 6 epochs (about 3.5 min on 2 CPU cores). Same model,
# losses, hook and protocol
# (all-search, 10 single-shot trials) as configs/cal_sysu.py.
_base_ = ['../cal_sysu.py']

data_root = 'data/demo/sysu-mm01'
img_scale = (48, 96)  # (W, H) -> 6 x 3 feature map (last stride 1)
batch_size = 32       # P=4 ids x (K=4 visible + K=4 infrared)

model = dict(
    # random init, 128-d feature map; no zero-init of the residual BNs (mmpretrain's default): from scratch on
    # a few hundred images it held the two-stream demo near chance (RegDB R1 8.0 -> 20.0, SYSU 14.1 -> 27.2;
    # tools/demo_results.py, seed 0)
    backbone=dict(depth=18, base_channels=16, init_cfg=None, zero_init_residual=False),
    num_classes=32,  # train + val identities of the demo set
    drm_reduce_channels=None,
    tsaa=dict(embed_dim=64, channel_reduction=4),
    # from scratch on a few hundred images the ID losses alone learn slowly; the AGW batch-hard triplet on the
    # global feature (not part of CAL's objective) gets the demo well above chance within a few epochs
    loss_triplet=dict(type='TripletLoss', margin=0.3),
)

train_pipeline = [
    dict(type='LoadReIDImage'),
    dict(type='Resize', scale=img_scale),
    dict(type='RandomCrop', crop_size=img_scale[::-1], padding=4),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    # channel-level augmentation (optional in the spec): grey visible images bridge the modality gap early
    dict(type='RandomGrayscaleReID', prob=0.5),
    dict(type='PackReIDInputs'),
]
# the published evaluation pipeline at the demo's image size
test_pipeline = [dict(t, scale=img_scale) if t['type'] == 'Resize' else t for t in _base_.test_pipeline]
train_dataloader = dict(batch_size=batch_size, num_workers=0, persistent_workers=False,
                        sampler=dict(num_instances=4, batch_size=batch_size),
                        dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(batch_size=64, num_workers=0, persistent_workers=False,
                      dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader

# count the matchings of the last two epochs (the "late stage"); M-hat fixed after the last one
custom_hooks = [dict(type='TrainEpochHook'), dict(type='MatchDistillHook', count_begin_epoch=4, fix_epoch=None)]

# Adam converges much faster than SGD from scratch on CPU (the baseline demo does the same)
optim_wrapper = dict(optimizer=dict(_delete_=True, type='Adam', lr=2e-3, weight_decay=5e-4, fused=True),
                     paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=1.0)}))
param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=1,
                        convert_to_iter_based=True)]
train_cfg = dict(max_epochs=6, val_interval=2)
# the demo trains its own batch and lr at any number of processes (its test thresholds were measured
# with them); --auto-scale-lr scales by the number of processes
auto_scale_lr = dict(base_batch_size=batch_size, enable=False)
default_hooks = dict(logger=dict(interval=5))
