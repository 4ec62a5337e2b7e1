# BoT-style baseline: ImageNet ResNet-50 (last stride 1) -> GAP -> BNNeck; label-smoothed ID + triplet.
model = dict(
    type='ReIDBaseline',
    data_preprocessor=dict(type='ReIDDataPreprocessor',
                           mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True),
    backbone=dict(
        type='ResNet', depth=50, strides=(1, 2, 2, 1), out_indices=(3, ),
        init_cfg=dict(type='Pretrained', prefix='backbone',
                      checkpoint='https://download.openmmlab.com/mmclassification/v0/resnet/'
                                 'resnet50_8xb32_in1k_20210831-ea4938fc.pth')),
    num_classes=751,
    loss_id=dict(type='CrossEntropyLabelSmoothLoss', epsilon=0.1),
    loss_triplet=dict(type='TripletLoss', margin=0.3),
)
