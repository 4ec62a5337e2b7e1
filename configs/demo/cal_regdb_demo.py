# CPU demo of CAL on generated RegDB (python tools/make_demo_data.py --datasets regdb), trial 1, visible ->
# thermal: the slim model, pipelines and schedule of configs/demo/cal_sysu_demo.py, which it inherits as
# configs/cal_regdb.py inherits cal_sysu.py (mmengine refuses a key that two bases define, so a demo cannot take
# both its method config and a shared demo file); the data set and protocol lines below restate cal_regdb.py's:
# keep them alike.
_base_ = ['./cal_sysu_demo.py']

data_root = 'data/demo/regdb'
trial = 1
model = dict(num_classes=20)  # training identities of demo trial 1
train_dataloader = dict(dataset=dict(_delete_=True, type='RegDB', data_root=data_root, split='train', trial=trial,
                                     pipeline={{_base_.train_pipeline}}))
val_dataloader = dict(dataset=dict(_delete_=True, type='RegDB', data_root=data_root, split='test', trial=trial,
                                   pipeline={{_base_.test_pipeline}}))
test_dataloader = val_dataloader
val_evaluator = dict(_delete_=True, type='ReIDMetric', protocol='regdb', direction='v2t')
test_evaluator = val_evaluator

# RegDB epochs are short (7 steps of 32 images): 20 epochs ~ the iterations of the SYSU demo; count the last 5
custom_hooks = [dict(type='TrainEpochHook'), dict(type='MatchDistillHook', count_begin_epoch=15, fix_epoch=None)]
train_cfg = dict(max_epochs=20, val_interval=5)
