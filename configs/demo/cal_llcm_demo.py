# CPU demo of CAL on generated LLCM (python tools/make_demo_data.py --datasets llcm), infrared -> visible: the
# slim model, pipelines and schedule of configs/demo/cal_sysu_demo.py, which it inherits as configs/cal_llcm.py
# inherits cal_sysu.py (mmengine refuses a key that two bases define, so a demo cannot take both its method
# config and a shared demo file); the data set and protocol lines below restate cal_llcm.py's
# (tests/cal/test_configs.py holds them equal). Visible -> infrared: test_evaluator.direction=vis2ir.
_base_ = ['./cal_sysu_demo.py']

data_root = 'data/demo/llcm'
model = dict(num_classes=32)  # training identities of the demo set
train_dataloader = dict(dataset=dict(_delete_=True, type='LLCM', data_root=data_root, split='train',
                                     pipeline={{_base_.train_pipeline}}))
val_dataloader = dict(dataset=dict(_delete_=True, type='LLCM', data_root=data_root, split='test',
                                   pipeline={{_base_.test_pipeline}}))
test_dataloader = val_dataloader
val_evaluator = dict(_delete_=True, type='ReIDMetric', protocol='llcm', direction='ir2vis', trials=10)
test_evaluator = val_evaluator
