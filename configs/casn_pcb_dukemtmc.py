# CASN(PCB) on DukeMTMC-reID (data/dukemtmc-reid): same model and schedule as Market-1501.
# Published: CASN(PCB) DukeMTMC-reID R1 87.7 / mAP 73.7.
# Paper setting (from casn_pcb_market1501.py): total batch and lr in configs/casn/metafile.yml;
# more GPUs: README "Training and testing".
_base_ = ['./casn_pcb_market1501.py']

dataset_type = 'DukeMTMCReID'
data_root = 'data/dukemtmc-reid'

model = dict(num_classes=702)  # DukeMTMC-reID training identities
train_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
val_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
test_dataloader = val_dataloader
