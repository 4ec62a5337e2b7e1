# CPU demo of several data sets in one run: the strong baseline trained on generated Market-1501 +
# DukeMTMC-reID (tools/make_demo_data.py), tested on generated Market-1501, DukeMTMC-reID and CUHK03-NP (a row per
# set and their mean). Half-width ResNet-18 from scratch, 128x64 images, 4 epochs.
_base_ = ['../baseline_multi_source.py']

img_scale = (64, 128)  # (W, H)
model = dict(
    backbone=dict(depth=18, base_channels=32, stem_channels=32, init_cfg=None),  # random init, half width
    num_classes=60,  # 30 demo Market-1501 + 30 demo DukeMTMC-reID training identities
)
# the published pipelines at the demo's image size
train_pipeline = [dict(t, scale=img_scale) if t['type'] == 'Resize' else
                  dict(t, crop_size=img_scale[::-1]) if t['type'] == 'RandomCrop' else t
                  for t in _base_.train_pipeline]
test_pipeline = [dict(t, scale=img_scale) if t['type'] == 'Resize' else t for t in _base_.test_pipeline]

train_batch_size = 32  # 8 ids x 4 images
train_dataloader = dict(batch_size=train_batch_size, num_workers=0, persistent_workers=False,
                        sampler=dict(batch_size=train_batch_size),
                        dataset=dict(pipeline=train_pipeline, datasets=[
                            dict(type='Market1501', data_root='data/demo/market1501'),
                            dict(type='DukeMTMCReID', data_root='data/demo/dukemtmc-reid')]))
val_dataloader = dict(batch_size=64, num_workers=0, persistent_workers=False,
                      dataset=dict(pipeline=test_pipeline, datasets=[
                          dict(type='Market1501', data_root='data/demo/market1501'),
                          dict(type='DukeMTMCReID', data_root='data/demo/dukemtmc-reid'),
                          dict(type='CUHK03NP', data_root='data/demo/cuhk03', variant='labeled')]))
test_dataloader = val_dataloader

optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=1,
                        convert_to_iter_based=True)]
train_cfg = dict(max_epochs=4, val_interval=1)
auto_scale_lr = dict(base_batch_size=train_batch_size, enable=False)
default_hooks = dict(logger=dict(interval=5))
