# CPU demo of AXM-Net on the generated CUHK-PEDES (tools/make_demo_data.py): half-width ResNet-18 stages 1-3 from
# scratch, 128x64 images, narrow AXM-blocks and embeddings, 8 epochs (about 1.5 minutes on one core).
_base_ = ['../axmnet_cuhkpedes.py']

data_root = 'data/demo/cuhk-pedes'
img_size = (64, 128)  # (w, h): 8x4 map after stage 3
max_words = 40

# the demo training captions have 60 ids with min_count=2 (custom_hooks of the base config), all kept
vocab_size = 60

model = dict(
    # ResNet-18 at half width, random init (no download)
    backbone=dict(depth=18, stem_channels=32, base_channels=32, init_cfg=None),
    in_channels=128,                         # its stage-3 channels
    vocab_size=vocab_size,
    num_classes=40,                          # identities of the demo training set
    word_embed_dim=64, num_text_blocks=1,
    axm_channels=128, num_parts=4, embed_dim=128,
)

train_pipeline = [
    dict(type='LoadReIDImage'),
    dict(type='Resize', scale=img_size, keep_ratio=False, interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='WordTokenize', max_length=max_words),
    dict(type='PackReIDInputs'),
]
image_test_pipeline = [
    dict(type='LoadReIDImage'),
    dict(type='Resize', scale=img_size, keep_ratio=False, interpolation='bicubic'),
    dict(type='PackReIDInputs'),
]
caption_test_pipeline = [dict(type='WordTokenize', max_length=max_words), dict(type='PackReIDInputs')]

train_dataloader = dict(batch_size=32, num_workers=0, persistent_workers=False,
                        sampler=dict(batch_size=32),  # 8 ids x 4 pairs
                        dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(batch_size=64, num_workers=0, persistent_workers=False,
                      dataset=dict(data_root=data_root, split='test', pipeline=image_test_pipeline,
                                   text_pipeline=caption_test_pipeline))
test_dataloader = val_dataloader

# from scratch on 40 identities: a higher learning rate, 8 short epochs (5 iterations each)
optim_wrapper = dict(optimizer=dict(lr=2e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=1, convert_to_iter_based=True),
    dict(type='MultiStepLR', by_epoch=True, milestones=[6], gamma=0.1),
]
train_cfg = dict(max_epochs=8, val_interval=2)
# the demo trains its own batch and lr at any number of processes (its test thresholds were measured
# with them); --auto-scale-lr scales by the number of processes
auto_scale_lr = dict(base_batch_size=32, enable=False)
# The demo validates on the test split and tests its last checkpoint (model_selection='last'): its tests compare the
# last validation with tools/test.py. The published config keeps the best by val; configs/demo/irra_cuhkpedes_demo.py
# runs that rule on the demo data.
model_selection = 'last'
default_hooks = dict(logger=dict(interval=2), checkpoint=dict(save_best=None))
