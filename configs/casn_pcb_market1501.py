# CASN (Zheng et al., CVPR 2019) on the PCB baseline, Market-1501: ResNet-50 (ImageNet, last stride 1),
# 384x128 inputs, 6 horizontal stripes with their own classifiers, identification attention + Siamese module.
# Paper schedule: SGD momentum 0.9, lr 0.03, 40 epochs, x0.1 after epoch 30, 16 pairs per batch.
# Paper setting: total batch and lr in configs/casn/metafile.yml (16 pairs); more GPUs: README "Training and testing".
# Published: CASN(PCB) Market-1501 R1 94.4 / mAP 82.8.
_base_ = [
    './_base_/datasets/market1501.py',
    './_base_/default_runtime.py',
]

img_scale = (128, 384)  # (W, H) as mmcv's Resize takes it
train_batch_size = 32  # P=8 ids x K=4 images -> 16 Siamese pairs (8 positive, 8 negative)

model = dict(
    type='CASN',
    data_preprocessor=dict(type='ReIDDataPreprocessor',
                           mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True),
    backbone=dict(
        type='ResNet', depth=50, strides=(1, 2, 2, 1), out_indices=(3, ),  # PCB: last stride 1 -> 24x8 map
        init_cfg=dict(type='Pretrained', prefix='backbone',
                      checkpoint='https://download.openmmlab.com/mmclassification/v0/resnet/'
                                 'resnet50_8xb32_in1k_20210831-ea4938fc.pth')),
    num_classes=751,  # Market-1501 training identities
    head='pcb',
    head_cfg=dict(num_stripes=6, stripe_dim=256, dropout=0.5),
    loss_id=dict(type='CrossEntropyLabelSmoothLoss', epsilon=0.0),  # plain CE, summed over the 6 stripes
    # L_ia: soft mask sigmoid(alpha (M - beta)) (GAIN's values), true-class softmax probability on the masked image
    loss_ia=dict(type='IdentificationAttentionLoss', alpha=10.0, beta=0.5, score='prob', loss_weight=1.0),
    loss_sia_weight=1.0,  # Siamese BCE
    # L_sa: maps thresholded at t, cropped to the kept box, resized to 32x16, L2 distance over positive pairs.
    # The paper gives neither the resize size nor lambda_sa; the L2 distance grows with sqrt(h*w) (about 10 for
    # unrelated 32x16 maps), and with lambda_sa=1 it swamps L_id (~20 for 6 stripes) early in training (demo:
    # no learning in 2 epochs), so lambda_sa=0.1 brings it to the scale of the other terms.
    loss_sa=dict(type='SiameseAttentionLoss', threshold=0.5, size=(32, 16), loss_weight=0.1),
    num_pairs=None,  # batch // 2
)

train_pipeline = [
    dict(type='LoadReIDImage'),
    dict(type='Resize', scale=img_scale),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackReIDInputs'),
]
test_pipeline = [
    dict(type='LoadReIDImage'),
    dict(type='Resize', scale=img_scale),
    dict(type='PackReIDInputs'),
]
train_dataloader = dict(
    batch_size=train_batch_size,
    sampler=dict(type='IdentitySampler', num_instances=4, batch_size=train_batch_size),
    dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(
    # fused: the same update rule in one kernel (3-4x faster optimizer step than the per-tensor loop)
    optimizer=dict(type='SGD', lr=0.03, momentum=0.9, weight_decay=5e-4, nesterov=True, fused=True),
    paramwise_cfg=dict(bias_decay_mult=0.0, norm_decay_mult=0.0),
)
param_scheduler = [dict(type='MultiStepLR', by_epoch=True, milestones=[30], gamma=0.1)]
train_cfg = dict(by_epoch=True, max_epochs=40, val_interval=5)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=32, enable=True)  # the paper's total batch: 1 process = the paper setting

# Grad-CAM overlays of the first 8 query images after every validation and at test time
# ({work_dir}/gradcam/epoch_E/, and every visualiser backend: add configs/_base_/tensorboard.py for TensorBoard)
custom_hooks = [dict(type='GradCAMHook', num_images=8)]
# BatchNorm over the global batch with GlobalBatchNorm on every device: torch's SyncBatchNorm is not exact under
# the batched, twice-differentiated Grad-CAM gradients (CASN.check_distributed_batchnorm refuses it)
sync_bn = 'global'
