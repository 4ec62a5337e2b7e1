# AXM-Net (Farooq et al., AAAI 2022) on CUHK-PEDES: ResNet-50 stages 1-3 (ImageNet) for images, word embeddings
# as a 1 x n map for captions, 2 AXM-blocks (R = 3 streams, receptive fields 1/3/5, context gate shared by the
# modalities), K = 6 part channel attention, text non-local attention, 1024-d joint space;
# L = L_id + L_triplet (cross-modal batch-hard, both directions) + L_aff (the paper's formula).
# Published: text->image R1 / R5 / R10 / mAP = 64.44 / 80.52 / 86.77 / 58.73.
# The paper does not state every training detail; the choices made here are marked "(choice)" (docs/axmnet.md).
# Reference setting (choice: the paper gives none): total batch and lr in configs/axmnet/metafile.yml; more GPUs: README
# "Training and testing".
_base_ = ['./_base_/default_runtime.py']

data_root = 'data/cuhk-pedes'
dataset_type = 'CUHKPEDES'
img_size = (128, 384)  # (w, h): 24x8 map after ResNet-50 stage 3
max_words = 100        # (choice) no CUHK-PEDES caption is cut at 100 words

# Word vocabulary of the training captions (words seen >= 2 times, at most 5000 ids: (choice) as SSAN's official
# code), built by WordVocabularyHook into <work_dir>/vocab.json and every checkpoint; testing reads it back.
vocab_size = 5000
custom_hooks = [dict(type='WordVocabularyHook', min_count=2)]

model = dict(
    type='AXMNet',
    data_preprocessor=dict(type='ReIDDataPreprocessor',
                           mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True),
    backbone=dict(  # ResNet-50 conv1..stage 3 (the later stages are the AXM-blocks)
        type='ResNet', depth=50, num_stages=3, strides=(1, 2, 2), dilations=(1, 1, 1), out_indices=(2, ),
        init_cfg=dict(type='Pretrained', prefix='backbone',
                      checkpoint='https://download.openmmlab.com/mmclassification/v0/resnet/'
                                 'resnet50_8xb32_in1k_20210831-ea4938fc.pth')),
    in_channels=1024,      # ResNet-50 stage 3
    vocab_size=vocab_size,  # ids of the word embedding: the vocabulary keeps at most this many
    num_classes=11003,     # CUHK-PEDES training identities
    word_embed_dim=300,    # (choice) word2vec-sized, learnt from scratch
    num_text_blocks=2,     # residual 1x3 blocks before the AXM-blocks
    num_axm_blocks=2,
    axm_channels=1024,
    kernel_sizes=(1, 3, 5),  # R = 3 receptive-field streams (k x k for images, 1 x k for captions)
    gate_reduction=16,
    share_prob=0.5,        # training pairs share their AXM context with this probability; test: own context
    num_parts=6,
    embed_dim=1024,
    loss_id=dict(type='CrossEntropyLabelSmoothLoss', epsilon=0.1),
    loss_triplet=dict(type='TripletLoss', margin=0.3, norm_feat=True),
    loss_affinity=dict(type='CrossModalAffinityLoss', form='paper'),  # form='bce' for the standard BCE
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
caption_test_pipeline = [
    dict(type='WordTokenize', max_length=max_words),
    dict(type='PackReIDInputs'),
]

train_dataloader = dict(
    batch_size=64, num_workers=4, persistent_workers=True,
    # P x K = 16 identities x 4 (image, caption) pairs: every anchor has cross-modal positives for the triplet
    sampler=dict(type='IdentitySampler', num_instances=4, batch_size=64),
    collate_fn=dict(type='reid_collate'),
    dataset=dict(type=dataset_type, data_root=data_root, split='train', pipeline=train_pipeline))
test_dataloader = dict(
    batch_size=128, num_workers=4, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='reid_collate'),
    dataset=dict(type=dataset_type, data_root=data_root, split='test', pipeline=image_test_pipeline,
                 text_pipeline=caption_test_pipeline))
val_dataloader = dict(test_dataloader, dataset=dict(test_dataloader['dataset'], split='val'))
# features are L2-normalised: cosine distance = the model's similarity
val_evaluator = dict(type='ReIDMetric', protocol='text_image', dist='cosine')
test_evaluator = val_evaluator
# Model selection: best R1 on the val split, tested on the test split (plugins/core/hooks/model_selection_hook.py);
# the papers' code rule, best on the test split: --cfg-options model_selection=test (a warning)
model_selection = 'val'
default_hooks = dict(checkpoint=dict(save_best='R1', rule='greater'))

# (choice) Adam, lr 3.5e-4, warm-up 5 epochs, 60 epochs, x0.1 at 30 and 50
optim_wrapper = dict(
    # fused: the same update rule in one kernel (3-4x faster optimizer step than the per-tensor loop)
    optimizer=dict(type='Adam', lr=3.5e-4, weight_decay=5e-4, fused=True),
    paramwise_cfg=dict(bias_decay_mult=0.0, norm_decay_mult=0.0),
)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=5, convert_to_iter_based=True),
    dict(type='MultiStepLR', by_epoch=True, milestones=[30, 50], gamma=0.1),
]
train_cfg = dict(by_epoch=True, max_epochs=60, val_interval=5)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=64, enable=True)  # the reference total batch: 1 process = that setting
