# SSAN (Ding et al., 2021) on CUHK-PEDES, the published setting: ResNet-50 (ImageNet) + word BiLSTM, 384x128,
# K = 6 parts, D = 1024, compound ranking loss (alpha 0.2, beta 0.1, dynamic margin from epoch 5),
# Adam lr 1e-3 (backbone x0.1), batch 64, 60 epochs, lr x0.1 at epochs 20 and 40.
# Published: text->image R1 / R5 / R10 = 61.37 / 80.15 / 86.73.
# Paper setting: total batch and lr in configs/ssan/metafile.yml (backbone x0.1);
# more GPUs: README "Training and testing".
_base_ = ['./_base_/datasets/cuhk_pedes.py', './_base_/default_runtime.py']

img_size = (128, 384)  # (w, h)
max_words = 100

# Word vocabulary of the training captions (words seen >= 2 times, the 5000 most frequent ids as in the official
# code), built by WordVocabularyHook into <work_dir>/vocab.json and every checkpoint; testing reads it back.
vocab_size = 5000

model = dict(
    type='SSAN',
    data_preprocessor=dict(type='ReIDDataPreprocessor',
                           mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True),
    backbone=dict(
        # torchvision's last stride 2 as the official code: 12x4 map, 2 rows per part (stride 1: 24x8, a variant)
        type='ResNet', depth=50, strides=(1, 2, 2, 2), out_indices=(3, ),
        init_cfg=dict(type='Pretrained', prefix='backbone',
                      checkpoint='https://download.openmmlab.com/mmclassification/v0/resnet/'
                                 'resnet50_8xb32_in1k_20210831-ea4938fc.pth')),
    vocab_size=vocab_size,  # ids of the word embedding: the vocabulary keeps at most this many
    num_classes=11003,    # CUHK-PEDES training identities
    embed_dims=512,
    feat_dims=1024,
    relation_dims=512,
    num_parts=6,
    text_dropout=0.3,
    loss_rank=dict(type='CompoundRankingLoss', alpha=0.2, beta=0.1, negative_mining='semi_hard',
                   reduction='sum', dynamic_margin_begin=5, skip_margin_below=0.16),
    loss_id=dict(type='CrossEntropyLabelSmoothLoss', epsilon=0.0),
    branch_weights=(1.0, 0.5, 0.5),
)
custom_hooks = [
    dict(type='WordVocabularyHook', min_count=2),
    # gives the model (and so loss_rank) the training epoch: the dynamic margin starts at dynamic_margin_begin
    dict(type='TrainEpochHook'),
]

# official augmentation: bicubic resize to 384x128 and horizontal flip only
text_tokenizer = dict(type='WordTokenize', max_length=max_words)  # caption -> text, weak_caption -> weak_text
train_pipeline = [
    dict(type='LoadReIDImage'),
    dict(type='Resize', scale=img_size, keep_ratio=False, interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    text_tokenizer,
    dict(type='PackReIDInputs'),
]
test_pipeline = [  # gallery images
    dict(type='LoadReIDImage'),
    dict(type='Resize', scale=img_size, keep_ratio=False, interpolation='bicubic'),
    dict(type='PackReIDInputs'),
]
test_text_pipeline = [text_tokenizer, dict(type='PackReIDInputs')]  # caption queries

train_dataloader = dict(
    batch_size=64, drop_last=True,  # random (image, caption) pairs, as the official loader
    dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline, text_pipeline=test_text_pipeline))
test_dataloader = val_dataloader
# the model's score S_g + S_l + S_n is the dot product of the features (all of norm sqrt(3)): cosine ranks alike
val_evaluator = dict(type='ReIDMetric', protocol='text_image', dist='cosine')
test_evaluator = val_evaluator

optim_wrapper = dict(
    # fused: the same update rule in one kernel (3-4x faster optimizer step than the per-tensor loop)
    optimizer=dict(type='Adam', lr=1e-3, betas=(0.9, 0.999), fused=True),
    paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=0.1)}),  # official: CNN at lr x 0.1
)
param_scheduler = [dict(type='MultiStepLR', by_epoch=True, milestones=[20, 40], gamma=0.1)]
train_cfg = dict(by_epoch=True, max_epochs=60, val_interval=1)
val_cfg = dict()
test_cfg = dict()
# Model selection: best R1 on the val split, tested on the test split (plugins/core/hooks/model_selection_hook.py);
# the official code keeps the best epoch on test (test_during_train.py): --cfg-options model_selection=test (a warning)
model_selection = 'val'
default_hooks = dict(checkpoint=dict(save_best='R1', rule='greater'))
auto_scale_lr = dict(base_batch_size=64, enable=True)  # the paper's total batch: 1 process = the paper setting
