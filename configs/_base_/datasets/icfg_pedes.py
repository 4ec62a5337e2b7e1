# ICFG-PEDES (data/icfg-pedes): 3,102 train ids / 34,674 images; test = 19,848 captions vs 19,848 images.
# The data set has no validation split (ICFG-PEDES.json: "train" and "test" records only): validation runs on
# the test split for the curves only, and a method config tests the last checkpoint (model_selection='last').
# Pipelines, loaders and the text_image protocol are those of ./cuhk_pedes.py; only the data set changes.
_base_ = ['./cuhk_pedes.py']

dataset_type = 'ICFGPEDES'
data_root = 'data/icfg-pedes'

train_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
val_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root, split='test'))
test_dataloader = val_dataloader
