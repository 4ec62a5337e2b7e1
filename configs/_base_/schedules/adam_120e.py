# Adam variant of the BoT schedule (lr 3.5e-4, warm-up 10 epochs, x0.1 at 40 and 70).
optim_wrapper = dict(
    # fused: the same update rule in one kernel (3-4x faster optimizer step than the per-tensor loop)
    optimizer=dict(type='Adam', lr=3.5e-4, weight_decay=5e-4, fused=True),
    paramwise_cfg=dict(bias_decay_mult=0.0, norm_decay_mult=0.0),
)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0, end=10, convert_to_iter_based=True),
    dict(type='MultiStepLR', by_epoch=True, milestones=[40, 70], gamma=0.1),
]
train_cfg = dict(by_epoch=True, max_epochs=120, val_interval=10)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=64, enable=False)
