# SSAN on ICFG-PEDES (published R1 / R5 / R10 = 54.23 / 72.63 / 79.53); everything else as on CUHK-PEDES.
# Paper setting (from ssan_cuhkpedes.py): total batch and lr in configs/ssan/metafile.yml;
# more GPUs: README "Training and testing".
_base_ = ['./ssan_cuhkpedes.py']

data_root = 'data/icfg-pedes'

model = dict(num_classes=3102)  # ICFG-PEDES training identities

train_dataloader = dict(dataset=dict(type='ICFGPEDES', data_root=data_root, split='train'))
# ICFG-PEDES has no val split: validation on the test split draws the curves, the last checkpoint is tested
val_dataloader = dict(dataset=dict(type='ICFGPEDES', data_root=data_root, split='test'))
model_selection = 'last'
default_hooks = dict(checkpoint=dict(save_best=None))
test_dataloader = val_dataloader
