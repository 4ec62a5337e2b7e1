# CASN(PCB) on CUHK03-NP labeled (data/cuhk03, new protocol 767/700 ids); `variant='detected'` for the
# detected boxes. Same model and schedule as Market-1501 (the paper reports Market-1501 and DukeMTMC-reID).
# Paper setting (from casn_pcb_market1501.py): total batch and lr in configs/casn/metafile.yml;
# more GPUs: README "Training and testing".
_base_ = ['./casn_pcb_market1501.py']

dataset_type = 'CUHK03NP'
data_root = 'data/cuhk03'
variant = 'labeled'

model = dict(num_classes=767)  # CUHK03-NP training identities
train_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root, variant=variant))
val_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root, variant=variant))
test_dataloader = val_dataloader
