import torch

from plugins.cal.model import find_partners

from ._tiny import NUM_PARTS, batch, tiny_cal

PIDS = [0, 0, 1, 1, 2, 2, 0, 0, 1, 1, 2, 2]
MODS = ['visible'] * 6 + ['infrared'] * 6  # the CrossModalitySampler layout: K visible then K infrared per id


def test_partners_found_by_pid_in_any_batch_order():
    torch.manual_seed(0)
    perm = torch.randperm(len(PIDS))
    pids = torch.tensor(PIDS)[perm]
    is_ir = torch.tensor([m == 'infrared' for m in MODS])[perm]
    partner, valid = find_partners(pids, is_ir)
    assert valid.all()
    assert (pids[partner] == pids).all() and (is_ir[partner] != is_ir).all()
    # an identity seen in one modality only has no partner
    partner, valid = find_partners(torch.tensor([0, 0, 1]), torch.tensor([False, True, False]))
    assert valid.tolist() == [True, True, False] and partner[2] == 2


def test_loss_terms_finite_and_reach_both_stems():
    model = tiny_cal()
    inputs, data_samples = batch(PIDS, MODS)
    losses = model(inputs, data_samples, mode='loss')
    for key in ('loss_id', 'loss_id_part', 'loss_pcl', 'loss_kd1', 'loss_kd2', 'loss_dis', 'loss_div'):
        assert torch.isfinite(losses[key]), key
    assert sorted(model.last_matching.tolist()) == list(range(NUM_PARTS))
    sum(v for k, v in losses.items() if k.startswith('loss')).backward()
    assert model.backbone.resnet.conv1.weight.grad.abs().sum() > 0
    assert model.backbone.infrared['conv1'].weight.grad.abs().sum() > 0
    assert model.drm_infrared.scorer.score.weight.grad.abs().sum() > 0
    assert model.drm_visible.scorer.score.weight.grad.abs().sum() > 0


def test_kd_switch_and_fixed_matching_in_loss():
    model = tiny_cal(kd_begin_epoch=1)
    inputs, data_samples = batch(PIDS, MODS)
    assert not model.kd_active  # a model never told an epoch is at epoch 0: warm-up
    losses = model(inputs, data_samples, mode='loss')
    assert float(losses['loss_kd1']) == 0 and float(losses['loss_kd2']) == 0
    model.set_train_epoch(1)
    losses = model(inputs, data_samples, mode='loss')
    assert float(losses['loss_kd1']) != 0 and float(losses['loss_kd2']) != 0
    model.part_matching.copy_(torch.tensor([2, 0, 1]))
    model.matching_fixed.fill_(True)
    model.part_matcher = lambda w: (_ for _ in ()).throw(AssertionError('solver must not run once fixed'))
    model(inputs, data_samples, mode='loss')
    assert model.last_matching.tolist() == [2, 0, 1]


def test_modality_specific_stem():
    model = tiny_cal().eval()
    inputs, data_samples = batch(PIDS, MODS)
    before = model(inputs, data_samples, mode='tensor')
    with torch.no_grad():
        model.backbone.infrared['conv1'].weight.mul_(-1)
    after = model(inputs, data_samples, mode='tensor')
    torch.testing.assert_close(after[:6], before[:6])  # visible rows untouched
    assert (after[6:] - before[6:]).abs().max() > 1e-4


def test_predict_orders_visible_parts_by_fixed_matching():
    model = tiny_cal().eval()
    inputs, data_samples = batch(PIDS, MODS)
    out = model(inputs, data_samples, mode='predict')
    base = torch.stack([s.pred_feature for s in out])
    c = base.shape[1] // (NUM_PARTS + 1)
    assert base.shape[1] == (NUM_PARTS + 1) * c
    matching = torch.tensor([2, 0, 1])
    model.part_matching.copy_(matching)
    inputs, data_samples = batch(PIDS, MODS)
    fixed = torch.stack([s.pred_feature for s in model(inputs, data_samples, mode='predict')])
    blocks, fixed_blocks = base.view(-1, NUM_PARTS + 1, c), fixed.view(-1, NUM_PARTS + 1, c)
    # global block and infrared parts unchanged; visible block 1 + u holds visible part matching[u]
    torch.testing.assert_close(fixed_blocks[:, 0], blocks[:, 0])
    torch.testing.assert_close(fixed_blocks[6:], blocks[6:])
    torch.testing.assert_close(fixed_blocks[:6, 1:], blocks[:6, 1 + matching])
    # every block is unit-normalised / sqrt(N_p + 1): the concatenated feature has norm 1
    torch.testing.assert_close(fixed.norm(dim=1), torch.ones(len(PIDS)))


def test_predict_has_no_query_gallery_interaction():
    model = tiny_cal().eval()
    inputs, data_samples = batch(PIDS, MODS)
    full = torch.stack([s.pred_feature for s in model(inputs, data_samples, mode='predict')])
    inputs, data_samples = batch(PIDS, MODS)
    one = dict(img=inputs['img'][7:8], img_index=torch.tensor([0]))
    single = model(one, data_samples[7:8], mode='predict')[0].pred_feature
    torch.testing.assert_close(single, full[7], atol=1e-5, rtol=1e-5)
