# Cross-domain strong baseline: trained on Market-1501 (the BoT setting of ./baseline_market1501.py), tested on
# Market-1501 (source) and DukeMTMC-reID (target) in one run: one table, a row per test set and their mean.
_base_ = ['./baseline_market1501.py']

test_sets = [dict(type='Market1501', data_root='data/market1501'),
             dict(type='DukeMTMCReID', data_root='data/dukemtmc-reid')]
val_dataloader = dict(dataset=dict(_delete_=True, type='CombinedReIDDataset', split='test', datasets=test_sets,
                                   pipeline=_base_.test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(_delete_=True, type='MultiSetReIDMetric', sets={
    'market1501': dict(protocol='market'),     # source domain
    'dukemtmc-reid': dict(protocol='market'),  # target domain (never trained on)
})
test_evaluator = val_evaluator
