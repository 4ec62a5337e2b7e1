# CAL on RegDB, thermal -> visible (thermal queries against the visible gallery). Same training.
# Paper setting (from cal_sysu.py): total batch and lr in configs/cal/metafile.yml;
# more GPUs: README "Training and testing".
_base_ = './cal_regdb.py'

val_evaluator = dict(direction='t2v')
test_evaluator = val_evaluator
