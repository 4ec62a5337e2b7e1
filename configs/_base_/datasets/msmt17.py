# MSMT17 (data/msmt17 = torchreid's <root>/msmt17, holding MSMT17_V1/ or MSMT17_V2/; see docs/datasets.md): train =
# list_train.txt (1,041 ids; list_val.txt is not trained on, as torchreid without combineall); test =
# list_query.txt vs list_gallery.txt (3,060 ids, 15 cameras; same id + same camera removed).
# Pipelines, identity sampler, loaders and the market protocol are those of ./market1501.py.
_base_ = ['./market1501.py']

dataset_type = 'MSMT17'
data_root = 'data/msmt17'

train_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
val_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
test_dataloader = val_dataloader
