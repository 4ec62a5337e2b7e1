# Strong baseline (BoT head, ID + triplet) with torchreid's OSNet x1.0 (ImageNet weights) on MSMT17, read by the
# plugin's MSMT17 parser (configs/_base_/datasets/msmt17.py): data/msmt17/MSMT17_V1 or MSMT17_V2, torchreid's
# folder, list_train.txt / list_query.txt / list_gallery.txt.
# torchreid downloads the OSNet weights on first use; offline, see docs/torchreid_bridge.md (init_cfg).
# BoT setting: total batch and lr in configs/baseline/metafile.yml (Adam); more GPUs: README "Training and testing".
# torchreid's own parser reads the same folder (docs/torchreid_bridge.md): replace the data sets by
#   train_dataloader = dict(dataset=dict(_delete_=True, type='TorchreidDataset', name='msmt17', root='data',
#                                        split='train', pipeline={{_base_.train_pipeline}}))
#   val_dataloader = dict(dataset=dict(_delete_=True, type='TorchreidDataset', name='msmt17', root='data',
#                                      split='test', pipeline={{_base_.test_pipeline}}))
#   test_dataloader = val_dataloader
# (the same samples; torchreid numbers the training ids in its own order, tests/core/datasets/test_msmt17.py).
_base_ = [
    './_base_/models/reid_baseline_r50.py',
    './_base_/datasets/msmt17.py',
    './_base_/schedules/adam_120e.py',
    './_base_/default_runtime.py',
]

model = dict(
    # in_channels is read from the backbone (TorchreidBackbone.feat_dim: 512 for osnet_x1_0)
    backbone=dict(_delete_=True, type='TorchreidBackbone', name='osnet_x1_0', pretrained=True),
    num_classes=1041,  # MSMT17 training identities (list_train.txt)
)
auto_scale_lr = dict(base_batch_size=64, enable=True)  # BoT's total batch: 1 process = the BoT setting
