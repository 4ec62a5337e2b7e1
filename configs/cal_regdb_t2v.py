# CAL on RegDB, thermal -> visible (thermal queries against the visible gallery). Same training.
_base_ = './cal_regdb.py'

val_evaluator = dict(direction='t2v')
test_evaluator = val_evaluator
