# Strong baseline on Market-1501 (BoT, Luo et al. 2019): 256x128, 16 ids x 4 images, 120 epochs.
# Paper setting: total batch and lr in configs/baseline/metafile.yml (Adam); more GPUs: README "Training and testing".
_base_ = [
    './_base_/models/reid_baseline_r50.py',
    './_base_/datasets/market1501.py',
    './_base_/schedules/adam_120e.py',
    './_base_/default_runtime.py',
]

model = dict(num_classes=751)  # Market-1501 training identities
auto_scale_lr = dict(base_batch_size=64, enable=True)  # the paper's total batch: 1 process = the paper setting
