"""TwoStreamResNet.init_weights: both streams get the backbone's weights; a whole-CAL checkpoint is kept as is."""
import torch

from tests.cal._tiny import tiny_cal


def _stream(model, infrared):
    two = model.backbone
    modules = two.infrared if infrared else {n: getattr(two.resnet, n) for n in two.specific_names}
    return {f'{n}.{k}': v for n in two.specific_names for k, v in modules[n].state_dict().items()}


def test_default_init_reaches_the_resnet_and_both_streams():
    model = tiny_cal()  # calls init_weights(); backbone init_cfg = mmpretrain's default (Kaiming, BN = 1)
    visible, infrared = _stream(model, False), _stream(model, True)
    assert sorted(visible) == sorted(infrared) and len(visible) == 6  # conv1 + bn1 (5 tensors)
    assert all(torch.equal(visible[k], infrared[k]) for k in visible)
    # mmpretrain's ResNet.init_weights ran: zero_init_residual zeroes the last BN of every residual block
    blocks = [b for n in model.backbone.resnet.res_layers for b in getattr(model.backbone.resnet, n)]
    assert len(blocks) == 8 and all(float(b.norm2.weight.abs().sum()) == 0.0 for b in blocks)


def test_whole_model_checkpoint_keeps_its_own_infrared_stream(tmp_path):
    """A model-level Pretrained init_cfg (a trained CAL) is loaded last; the streams are not re-synced after it."""
    source = tiny_cal()
    with torch.no_grad():
        for p in source.backbone.infrared.parameters():
            p.add_(1.0)  # a trained infrared stem differs from the visible one
    path = tmp_path / 'cal.pth'
    torch.save(dict(state_dict=source.state_dict()), path)

    model = tiny_cal(init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    loaded = model.state_dict()
    assert len(loaded) == len(source.state_dict())
    assert all(torch.equal(v, loaded[k]) for k, v in source.state_dict().items())
    assert not torch.equal(model.backbone.infrared.conv1.weight, model.backbone.resnet.conv1.weight)
