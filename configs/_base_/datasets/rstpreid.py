# RSTPReid (data/rstpreid): 3,701 train ids; val = 200 ids, 1,000 images, 2,000 captions (the validation
# split of ./cuhk_pedes.py's loaders); test = 200 ids, 1,000 images, 2,000 captions.
# Pipelines, loaders and the text_image protocol are those of ./cuhk_pedes.py; only the data set changes.
_base_ = ['./cuhk_pedes.py']

dataset_type = 'RSTPReid'
data_root = 'data/rstpreid'

train_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
val_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
test_dataloader = val_dataloader
