# CUHK03-NP labeled (data/cuhk03/cuhk03-np/labeled): 767 train ids; test = 1,400 queries vs 5,328 gallery.
# Pipelines, identity sampler, loaders and the market protocol are those of ./market1501.py; set
# variant='detected' in both data sets for the detected boxes.
_base_ = ['./market1501.py']

dataset_type = 'CUHK03NP'
data_root = 'data/cuhk03'

train_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root, variant='labeled'))
val_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root, variant='labeled'))
test_dataloader = val_dataloader
