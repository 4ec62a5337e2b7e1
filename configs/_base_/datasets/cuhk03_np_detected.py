# CUHK03-NP with the detected (DPM) boxes: same as cuhk03_np.py, other variant.
_base_ = ['./cuhk03_np.py']

train_dataloader = dict(dataset=dict(variant='detected'))
val_dataloader = dict(dataset=dict(variant='detected'))
test_dataloader = val_dataloader
