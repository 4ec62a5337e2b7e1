# CAL (Wu et al., "Learning Concordant Attention via Target-aware Alignment for Visible-Infrared Person
# Re-identification", ICCV 2023) on SYSU-MM01, all-search single-shot (10 trials).
# No official code exists: where the paper is silent we follow the AGW / CAJ VI-ReID baselines (noted below).
# Paper setting: total batch and lr in configs/cal/metafile.yml
# (8 ids x (4 visible + 4 infrared) per step; backbone lr x0.1).
# Each process draws the paper batch; N processes scale the lr by N (auto_scale_lr, README "Training and testing").
_base_ = [
    './_base_/datasets/sysu_mm01.py',
    './_base_/default_runtime.py',
]

model = dict(
    type='CAL',
    # test features = mean over the image and its horizontal flip, as the VI-ReID reference test code CAL's
    # setting follows (CAJ / DEEN test.py add the two passes; the mean ranks alike, docs/reproduce.md)
    test_flip=True,
    data_preprocessor=dict(type='ReIDDataPreprocessor',
                           mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True),
    # ImageNet ResNet-50, last stride 1; the stem (conv1 + bn1) is modality-specific as in AGW.
    backbone=dict(
        type='ResNet', depth=50, strides=(1, 2, 2, 1), out_indices=(3, ),
        init_cfg=dict(type='Pretrained', prefix='backbone',
                      checkpoint='https://download.openmmlab.com/mmclassification/v0/resnet/'
                                 'resnet50_8xb32_in1k_20210831-ea4938fc.pth')),
    num_specific_stages=0,       # 0: stem only (AGW); 1 would also split layer1
    num_classes=395,             # SYSU-MM01 train + val identities
    global_pool='gem',           # GeM (AGW); 'avg' for average pooling
    num_parts=6,                 # N_p
    alpha=1.0,                   # token ratio: N_k = ceil(alpha * HW / N_p)
    pool_sizes=(1, 3, 5),        # DRM part-scorer max-pool kernels
    drm_reduce_channels=256,     # 1x1 reduction of each pooled map before the concat (the "down-sampling")
    tsaa=dict(embed_dim=256, channel_reduction=16),
    loss_id=dict(type='CrossEntropyLabelSmoothLoss', epsilon=0.1),           # L_id (global + refined parts)
    loss_pcl=dict(type='PartAlignedCenterLoss', margin=0.3, loss_weight=1.0),  # L_pcl, sigma = 0.3
    # The paper does not publish lambda_1..4; these are our defaults (logged separately, easy to sweep).
    loss_kd1=dict(type='MatchDistillFeatureLoss', loss_weight=0.1),  # lambda_1 (larger values collapse the maps)
    loss_kd2=dict(type='MatchDistillScoreLoss', loss_weight=1.0),    # lambda_2
    loss_dis=dict(type='DistinctionLoss', loss_weight=0.1),          # lambda_3 (sum over the N_p parts)
    loss_div=dict(type='DiversityLoss', loss_weight=0.1),            # lambda_4
)

# MatchDistill: KD losses from the start (model.kd_begin_epoch=0; TrainEpochHook gives the model its epoch),
# matchings of the last 20 epochs counted ("late stage"), M-hat fixed after the last epoch (fix_epoch=None).
custom_hooks = [dict(type='TrainEpochHook'), dict(type='MatchDistillHook', count_begin_epoch=80, fix_epoch=None)]

# AGW / CAJ schedule: SGD lr 0.1 (heads) / 0.01 (pretrained backbone), momentum 0.9, wd 5e-4,
# linear warm-up over 10 epochs, x0.1 at epochs 20 and 50, 100 epochs.
optim_wrapper = dict(
    # fused: the same update rule in one kernel (3-4x faster optimizer step than the per-tensor loop)
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=5e-4, nesterov=True, fused=True),
    paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=0.1)}, bias_decay_mult=0.0, norm_decay_mult=0.0),
)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0, end=10, convert_to_iter_based=True),
    dict(type='MultiStepLR', by_epoch=True, milestones=[20, 50], gamma=0.1),
]
train_cfg = dict(by_epoch=True, max_epochs=100, val_interval=5)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=64, enable=True)  # the paper's total batch: 1 process = the paper setting
