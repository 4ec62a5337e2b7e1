# CPU demo of IRRA on the generated CUHK-PEDES (python tools/make_demo_data.py --datasets cuhk-pedes):
# a tiny randomly initialised CLIP (width 64, 2 layers per tower, patch 16), 128x64 images (8x4 patches, a
# 1 + 32 row position table), IRR with 1 block, Adam lr 1e-3 (from scratch), batch 16, 30 epochs.
# About 2 minutes on 2 CPU cores with OMP_NUM_THREADS=1 (5-7 when the cores are shared); text->image R1 11-19%,
# mAP 21-25% (chance 6.3% / 13.1%): it learns, slowly; see docs/irra.md. SDM/ID train on the masked captions,
# as in the published configs.
_base_ = ['../irra_cuhkpedes.py']

data_root = 'data/demo/cuhk-pedes'
img_scale = (64, 128)  # (W, H)
context_length = 40    # the demo captions have < 38 BPE tokens; halves the text tower's work

tiny_clip = dict(
    text_config=dict(hidden_size=64, intermediate_size=256, num_hidden_layers=2, num_attention_heads=2,
                     vocab_size=49408, max_position_embeddings=context_length),
    vision_config=dict(hidden_size=64, intermediate_size=256, num_hidden_layers=2, num_attention_heads=2,
                       image_size=64, patch_size=16),
    projection_dim=64)
model = dict(
    num_classes=40,                               # identities of the demo training set
    # random init: no download
    clip=dict(_delete_=True, pretrained=None, config=tiny_clip, image_size=img_scale[::-1], stride=16),
    cross_depth=1,
)

train_pipeline = [
    dict(type='LoadReIDImage'),
    dict(type='Resize', scale=img_scale),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomCrop', crop_size=img_scale[::-1], padding=4),
    dict(type='CLIPTokenize', context_length=context_length),
    dict(type='MaskedLanguageModeling', mask_prob=0.15),
    dict(type='PackReIDInputs'),
]
test_pipeline = [dict(type='LoadReIDImage'), dict(type='Resize', scale=img_scale), dict(type='PackReIDInputs')]
test_text_pipeline = [dict(type='CLIPTokenize', context_length=context_length), dict(type='PackReIDInputs')]
train_dataloader = dict(batch_size=16, sampler=dict(batch_size=16), num_workers=0, persistent_workers=False,
                        dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(batch_size=64, num_workers=0, persistent_workers=False,
                      dataset=dict(data_root=data_root, pipeline=test_pipeline, text_pipeline=test_text_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(optimizer=dict(lr=1e-3, eps=1e-8))  # from scratch: a much larger step than fine-tuning
max_epochs = 30  # 15 steps of 16 pairs per epoch
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=1, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 1, eta_min=0.0, by_epoch=True, begin=1, end=max_epochs,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=10)
# the demo trains its own batch and lr at any number of processes (its test thresholds were measured
# with them); --auto-scale-lr scales by the number of processes
auto_scale_lr = dict(base_batch_size=16, enable=False)
default_hooks = dict(logger=dict(interval=5), checkpoint=dict(max_keep_ckpts=1))
