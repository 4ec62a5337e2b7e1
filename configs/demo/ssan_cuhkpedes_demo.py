# CPU demo of SSAN on the generated CUHK-PEDES (tools/make_demo_data.py): ResNet-18 from scratch, 128x48
# images, smaller text/feature dimensions, 6 epochs (about 2-3 minutes on 2 cores).
_base_ = ['../ssan_cuhkpedes.py']

data_root = 'data/demo/cuhk-pedes'
img_size = (48, 128)  # (w, h): 8x3 map with last stride 1, enough rows for K = 6 parts

# the demo training captions have 60 ids with min_count=2 (custom_hooks of the base config), all kept
vocab_size = 60

model = dict(
    backbone=dict(depth=18, strides=(1, 2, 2, 1), init_cfg=None),  # random init: no download; 8x3 map
    vocab_size=vocab_size,
    num_classes=40,                          # identities of the demo training set
    embed_dims=128, feat_dims=256, relation_dims=128,
    loss_rank=dict(dynamic_margin_begin=2),  # switch the dynamic margin on within the short demo
)

text_tokenizer = dict(type='WordTokenize', max_length=40)
train_pipeline = [
    dict(type='LoadReIDImage'),
    dict(type='Resize', scale=img_size, keep_ratio=False, interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    text_tokenizer,
    dict(type='PackReIDInputs'),
]
test_pipeline = [
    dict(type='LoadReIDImage'),
    dict(type='Resize', scale=img_size, keep_ratio=False, interpolation='bicubic'),
    dict(type='PackReIDInputs'),
]
test_text_pipeline = [text_tokenizer, dict(type='PackReIDInputs')]
train_dataloader = dict(batch_size=32, sampler=dict(batch_size=32), num_workers=0, persistent_workers=False,
                        dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(batch_size=64, num_workers=0, persistent_workers=False,
                      dataset=dict(data_root=data_root, split='test', pipeline=test_pipeline,
                                   text_pipeline=test_text_pipeline))
test_dataloader = val_dataloader

# from scratch the backbone needs the full learning rate
optim_wrapper = dict(optimizer=dict(lr=1e-3), paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=1.0)}))
param_scheduler = [dict(type='MultiStepLR', by_epoch=True, milestones=[5], gamma=0.1)]
train_cfg = dict(max_epochs=6, val_interval=2)
# the demo trains its own batch and lr at any number of processes (its test thresholds were measured
# with them); --auto-scale-lr scales by the number of processes
auto_scale_lr = dict(base_batch_size=32, enable=False)
# The demo validates on the test split and tests its last checkpoint (model_selection='last'): its tests compare the
# last validation with tools/test.py. The published config keeps the best by val; configs/demo/irra_cuhkpedes_demo.py
# runs that rule on the demo data.
model_selection = 'last'
default_hooks = dict(logger=dict(interval=2), checkpoint=dict(save_best=None))
