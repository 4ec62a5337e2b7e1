# IRRA (Jiang & Ye, CVPR 2023) on CUHK-PEDES, the published setting: CLIP ViT-B/16 + text transformer fully
# fine-tuned, 384x128 images (24x8 position table, interpolated once from CLIP's 14x14 grid when the weights
# are loaded, then learned), IRR module of 4 blocks, SDM (tau 0.02) + MLM + ID losses on the masked captions
# (as the official code), Adam lr 1e-5 (new modules x5, biases x2 without weight decay), 60 epochs,
# 5 linear warm-up epochs (factor 0.1) then cosine to 0, batch 64 of random image-caption pairs.
# Published text->image: R1 73.38, R5 89.93, R10 93.71, mAP 66.13, mINP 50.24.
# Paper setting: total batch and lr in configs/irra/metafile.yml (official run_irra.sh, 1 GPU);
# more GPUs: README "Training and testing".
# Official weights: python tools/model_converters/irra_to_mmreid.py best.pth irra_cuhkpedes_official.pth, then
# python tools/test.py configs/irra_cuhkpedes.py irra_cuhkpedes_official.pth (docs/irra.md).
_base_ = ['./_base_/default_runtime.py', './_base_/datasets/cuhk_pedes.py']

# CLIP's image statistics (RGB, 0-255 scale)
clip_mean = [122.770938, 116.7460125, 104.09373615]
clip_std = [68.5005327, 66.6321579, 70.3231630]

model = dict(
    type='IRRA',
    num_classes=11003,                                    # CUHK-PEDES training identities
    clip=dict(
        config='ViT-B/16',                                # the architecture, built at construction
        image_size=(384, 128),                            # (H, W) of every input
        stride=16,                                        # patch stride (official stride_size)
        # loaded by init_weights() when training; tools/test.py never loads (or downloads) it. A hub name, a
        # local transformers folder, or the original OpenAI checkpoint, e.g. 'checkpoints/ViT-B-16.pt'
        pretrained='openai/clip-vit-base-patch16'),
    cross_depth=4,                                        # IRR: cross-attention + 4 transformer blocks
    loss_sdm=dict(type='SDMLoss', temperature=0.02),
    loss_mlm=dict(type='MLMLoss', ignore_index=-100, loss_weight=1.0),
    # image CE + text CE; weight 0.5 = the official code's average of the two
    loss_id=dict(type='CrossEntropyLabelSmoothLoss', epsilon=0.0, loss_weight=0.5),
    # official: the MLM transform masks the caption in place, so SDM and ID train on the masked ids (the
    # released numbers); False = clean captions, as the paper describes (lower accuracy, docs/irra.md)
    id_sdm_on_masked_captions=True,
    data_preprocessor=dict(type='ReIDDataPreprocessor', mean=clip_mean, std=clip_std, to_rgb=True),
)

# caption -> CLIP ids (text) -> masked copy (mlm_text, mlm_labels: the IRR branch, and SDM/ID, see above)
text_tokenizer = dict(type='CLIPTokenize', context_length=77)
mlm = dict(type='MaskedLanguageModeling', mask_prob=0.15, ignore_index=-100)
train_pipeline = _base_.train_image_transforms + [text_tokenizer, mlm, dict(type='PackReIDInputs')]
test_text_pipeline = [text_tokenizer, dict(type='PackReIDInputs')]

train_dataloader = dict(batch_size=64, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=512, dataset=dict(text_pipeline=test_text_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='ReIDMetric', protocol='text_image', dist='cosine')
test_evaluator = val_evaluator

optim_wrapper = dict(
    constructor='IRRAOptimWrapperConstructor',
    # eps 1e-3 as the official solver (it trains CLIP in fp16)
    # fused: the same update rule in one kernel (3-4x faster optimizer step than the per-tensor loop)
    optimizer=dict(type='Adam', lr=1e-5, betas=(0.9, 0.999), eps=1e-3, weight_decay=4e-5, fused=True),
    paramwise_cfg=dict(new_module_keys=('cross_modal', 'mlm_head', 'classifier'), new_module_lr_mult=5.0,
                       bias_lr_mult=2.0, bias_decay_mult=0.0),
)
max_epochs = 60
warmup_epochs = 5
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=warmup_epochs,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - warmup_epochs, eta_min=0.0, by_epoch=True,
         begin=warmup_epochs, end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=64, enable=True)  # the paper's total batch: 1 process = the paper setting
# Model selection: best R1 on the val split, tested on the test split (plugins/core/hooks/model_selection_hook.py);
# the official code keeps the best epoch on the test split: --cfg-options model_selection=test (a warning)
model_selection = 'val'
default_hooks = dict(logger=dict(interval=100), checkpoint=dict(save_best='R1', rule='greater'))
