# IRRA on RSTPReid (same setting as CUHK-PEDES). Published text->image: R1 60.20, R5 81.30, R10 88.20,
# mAP 47.17, mINP 25.28.
# Paper setting (from irra_cuhkpedes.py): total batch and lr in configs/irra/metafile.yml;
# more GPUs: README "Training and testing".
_base_ = ['./irra_cuhkpedes.py']

dataset_type = 'RSTPReid'
data_root = 'data/rstpreid'

model = dict(num_classes=3701)  # RSTPReid training identities
train_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
val_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
test_dataloader = val_dataloader
