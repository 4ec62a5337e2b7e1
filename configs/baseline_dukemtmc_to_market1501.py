# Cross-domain strong baseline: trained on DukeMTMC-reID with the BoT setting of ./baseline_market1501.py, tested
# on DukeMTMC-reID (source) and Market-1501 (target) in one run: one table, a row per test set and their mean.
_base_ = ['./baseline_market1501.py']

model = dict(num_classes=702)  # DukeMTMC-reID training identities
train_dataloader = dict(dataset=dict(type='DukeMTMCReID', data_root='data/dukemtmc-reid'))
test_sets = [dict(type='DukeMTMCReID', data_root='data/dukemtmc-reid'),
             dict(type='Market1501', data_root='data/market1501')]
val_dataloader = dict(dataset=dict(_delete_=True, type='CombinedReIDDataset', split='test', datasets=test_sets,
                                   pipeline=_base_.test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(_delete_=True, type='MultiSetReIDMetric', sets={
    'dukemtmc-reid': dict(protocol='market'),  # source domain
    'market1501': dict(protocol='market'),     # target domain (never trained on)
})
test_evaluator = val_evaluator
