# IRRA on ICFG-PEDES (same setting as CUHK-PEDES). Published text->image (official README): R1 63.46, R5 80.24,
# R10 85.82, mAP 38.05, mINP 7.92.
# Paper setting (from irra_cuhkpedes.py): total batch and lr in configs/irra/metafile.yml;
# more GPUs: README "Training and testing".
_base_ = ['./irra_cuhkpedes.py']

dataset_type = 'ICFGPEDES'
data_root = 'data/icfg-pedes'

model = dict(num_classes=3102)  # ICFG-PEDES training identities
train_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
# ICFG-PEDES has no val split: validation on the test split draws the curves, the last checkpoint is tested
# (the official code keeps the best epoch on test: --cfg-options model_selection=test, with a warning)
val_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root, split='test'))
model_selection = 'last'
default_hooks = dict(checkpoint=dict(save_best=None))
test_dataloader = val_dataloader
