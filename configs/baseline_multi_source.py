# Multi-source strong baseline: one model trained on Market-1501 + DukeMTMC-reID + CUHK03-NP (labeled) together
# (torchreid's sources=[...], fast-reid's DATASETS.NAMES), one label space of 751 + 702 + 767 = 2,220 identities,
# tested on the three test sets in one run (a row per set and their mean). BoT setting of ./baseline_market1501.py.
_base_ = ['./baseline_market1501.py']

model = dict(num_classes=2220)  # 751 Market-1501 + 702 DukeMTMC-reID + 767 CUHK03-NP training identities
train_dataloader = dict(dataset=dict(_delete_=True, type='CombinedReIDDataset', split='train',
                                     pipeline=_base_.train_pipeline, datasets=[
                                         dict(type='Market1501', data_root='data/market1501'),
                                         dict(type='DukeMTMCReID', data_root='data/dukemtmc-reid'),
                                         dict(type='CUHK03NP', data_root='data/cuhk03', variant='labeled')]))
test_sets = [dict(type='Market1501', data_root='data/market1501'),
             dict(type='DukeMTMCReID', data_root='data/dukemtmc-reid'),
             dict(type='CUHK03NP', data_root='data/cuhk03', variant='labeled')]
val_dataloader = dict(dataset=dict(_delete_=True, type='CombinedReIDDataset', split='test', datasets=test_sets,
                                   pipeline=_base_.test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(_delete_=True, type='MultiSetReIDMetric', sets={
    'market1501': dict(protocol='market'),
    'dukemtmc-reid': dict(protocol='market'),
    'cuhk03-np': dict(protocol='market'),
})
test_evaluator = val_evaluator
