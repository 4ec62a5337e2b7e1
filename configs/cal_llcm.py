# CAL on LLCM (the low-light visible-infrared benchmark of Zhang & Wang, CVPR 2023), infrared -> visible.
# CAL publishes no LLCM number: this is CAL's SYSU-MM01 recipe (configs/cal_sysu.py) on LLCM data, evaluated by
# the LLCM benchmark's protocol.
#   From CAL (cal_sysu.py, unchanged): the model (two-stream ResNet-50, DRM, TSAA, MatchDistill and its hook), the
#     losses and their weights, 288x144 pipelines, batch 64 = 8 ids x (4 visible + 4 infrared), SGD lr 0.1
#     (backbone x0.1), warm-up and steps, 100 epochs.
#   From the LLCM benchmark (ZYK100/LLCM, DEEN code): the data layout and split (LLCM parser), the 713 training
#     identities, and the evaluation: infrared queries vs a visible gallery of one image per (id, camera) drawn
#     per trial, 10 trials, the query's identity removed in its own camera, identity-once CMC (protocol='llcm').
# Visible -> infrared (the authors' test_mode [2, 1]) of the same checkpoint:
#   python tools/test.py configs/cal_llcm.py CKPT --cfg-options test_evaluator.direction=vis2ir
# Paper setting (from cal_sysu.py): total batch and lr in configs/cal/metafile.yml;
# more GPUs: README "Training and testing".
_base_ = './cal_sysu.py'

data_root = 'data/llcm'
model = dict(num_classes=713)  # LLCM training identities (idx/train_{vis,nir}.txt)
train_dataloader = dict(dataset=dict(_delete_=True, type='LLCM', data_root=data_root, split='train',
                                     pipeline={{_base_.train_pipeline}}))
val_dataloader = dict(dataset=dict(_delete_=True, type='LLCM', data_root=data_root, split='test',
                                   pipeline={{_base_.test_pipeline}}))
test_dataloader = val_dataloader
val_evaluator = dict(_delete_=True, type='ReIDMetric', protocol='llcm', direction='ir2vis', trials=10)
test_evaluator = val_evaluator
