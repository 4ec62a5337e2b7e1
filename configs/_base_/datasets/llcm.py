# LLCM (data/llcm, the low-light visible-infrared benchmark of Zhang & Wang, CVPR 2023; see docs/datasets.md):
# train on the 713 ids of idx/train_{vis,nir}.txt; test = the 351 ids of idx/test_id.txt, evaluated as the
# authors' DEEN/test.py does: infrared queries (cameras 1, 2, 4-9) against a visible gallery of one image per
# (id, camera) drawn per trial (random.seed(trial), 10 trials averaged), an item of the query's identity in its
# camera number removed, identity-once CMC (ReIDMetric protocol='llcm'); direction='vis2ir' for the other one.
# Pipelines, cross-modality sampler and loaders are those of ./sysu_mm01.py (288x144, P=8 identities x (K=4
# visible + K=4 infrared) = 64, flip, pad 10 + random crop, random erasing). The
# authors' DEEN trains LLCM at 384x144 with P=6 x (4 + 4) and random greyscale; a method config that wants
# that changes img_scale / the pipelines and the batch (sampler too), as configs/_base_/datasets/sysu_mm01.py says.
_base_ = ['./sysu_mm01.py']

dataset_type = 'LLCM'
data_root = 'data/llcm'

train_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
val_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
test_dataloader = val_dataloader
val_evaluator = dict(_delete_=True, type='ReIDMetric', protocol='llcm', direction='ir2vis', trials=10)
test_evaluator = val_evaluator
