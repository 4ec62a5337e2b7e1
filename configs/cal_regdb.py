# CAL on RegDB, visible -> thermal, one of the 10 standard trials (report the mean over trials 1..10).
# Same model, schedule and 288x144 pipelines as configs/cal_sysu.py (configs/_base_/datasets/regdb.py uses the
# very same pipelines and sampler); only the data set, the number of ids and the protocol change.
# Another trial:  --cfg-options trial=3   is NOT enough (configs are not re-evaluated); use
#   --cfg-options train_dataloader.dataset.trial=3 val_dataloader.dataset.trial=3 test_dataloader.dataset.trial=3
# or a variant config:  _base_ = './cal_regdb.py'  plus the three `dataset=dict(trial=3)` overrides.
# Paper setting (from cal_sysu.py): total batch and lr in configs/cal/metafile.yml;
# more GPUs: README "Training and testing".
_base_ = './cal_sysu.py'

data_root = 'data/regdb'
trial = 1  # 1..10
model = dict(num_classes=206)  # training identities of a RegDB trial
train_dataloader = dict(dataset=dict(_delete_=True, type='RegDB', data_root=data_root, split='train', trial=trial,
                                     pipeline={{_base_.train_pipeline}}))
val_dataloader = dict(dataset=dict(_delete_=True, type='RegDB', data_root=data_root, split='test', trial=trial,
                                   pipeline={{_base_.test_pipeline}}))
test_dataloader = val_dataloader
val_evaluator = dict(_delete_=True, type='ReIDMetric', protocol='regdb', direction='v2t')
test_evaluator = val_evaluator
