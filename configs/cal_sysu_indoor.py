# CAL on SYSU-MM01, indoor-search (gallery from the indoor visible cameras 1 and 2 only). Same training.
# Paper setting (from cal_sysu.py): total batch and lr in configs/cal/metafile.yml;
# more GPUs: README "Training and testing".
_base_ = './cal_sysu.py'

val_evaluator = dict(search_mode='indoor')
test_evaluator = val_evaluator
