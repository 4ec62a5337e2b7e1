# DukeMTMC-reID (data/dukemtmc-reid): 702 train ids; test = 2,228 queries vs 17,661 gallery.
# Pipelines, identity sampler, loaders and the market protocol are those of ./market1501.py.
_base_ = ['./market1501.py']

dataset_type = 'DukeMTMCReID'
data_root = 'data/dukemtmc-reid'

train_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
val_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
test_dataloader = val_dataloader
