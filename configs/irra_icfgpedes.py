# IRRA on ICFG-PEDES (same setting as CUHK-PEDES). Published text->image (official README): R1 63.46, R5 80.24,
# R10 85.82, mAP 38.05, mINP 7.92.
# Paper setting (from irra_cuhkpedes.py): total batch and lr in configs/irra/metafile.yml;
# more GPUs: README "Training and testing".
_base_ = ['./irra_cuhkpedes.py']

dataset_type = 'ICFGPEDES'
data_root = 'data/icfg-pedes'

model = dict(num_classes=3102)  # ICFG-PEDES training identities
train_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
val_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
test_dataloader = val_dataloader
