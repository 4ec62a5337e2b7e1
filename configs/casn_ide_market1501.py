# CASN on the IDE baseline, Market-1501: ResNet-50 (ImageNet), 288x144 inputs, global pooling, one classifier.
# Published: CASN(IDE) Market-1501 R1 92.0 / mAP 78.0.
# Paper setting (from casn_pcb_market1501.py): total batch and lr in configs/casn/metafile.yml;
# more GPUs: README "Training and testing".
_base_ = ['./casn_pcb_market1501.py']

img_scale = (144, 288)  # (W, H)

model = dict(
    backbone=dict(strides=(1, 2, 2, 2)),  # IDE keeps the last stride (9x5 map at 288x144)
    head='ide',
    head_cfg=dict(_delete_=True, embed_dim=512, dropout=0.5),
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
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
