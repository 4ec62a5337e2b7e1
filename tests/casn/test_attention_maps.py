"""CASN's training-time Grad-CAM maps are per image: with BatchNorm in training mode (the heads' BN after the
Grad-CAM layer) map n must depend on score n alone. Checked on the maps the losses receive in ``model.loss``
against a naive loop with one ``autograd.grad`` per score, and for the gradient they pass to the network."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import plugins  # noqa: F401
import plugins.casn.model as casn_model


class Recorder(nn.Module):
    """Stands in for an attention loss: keeps the maps it is given, returns 0 (with their graph)."""

    def __init__(self):
        super().__init__()
        self.maps = None

    def forward(self, *args):
        self.maps = [a for a in args if torch.is_tensor(a) and a.dim() == 4 and a.size(1) == 1]
        return sum(m.sum() for m in self.maps) * 0


def per_score_maps(feat_map, scores, size):
    """One autograd.grad per score (create_graph), map n from the gradient's slice n: channel weights =
    spatial mean, ReLU of the weighted sum, bilinear upsampling to the image, min-max normalisation."""
    maps = []
    for n in range(scores.numel()):
        grad, = torch.autograd.grad(scores[n], feat_map, retain_graph=True, create_graph=True)
        cam = F.relu((grad[n].mean(dim=(1, 2))[:, None, None] * feat_map[n]).sum(0))
        cam = F.interpolate(cam[None, None], size=size, mode='bilinear', align_corners=False)[0, 0]
        maps.append((cam - cam.min()) / (cam.max() - cam.min()))
    return torch.stack(maps)[:, None]


def run_loss(head, monkeypatch):
    """``model.loss`` of a small CASN in training mode (float64) with recording attention losses; returns the
    model, the head's input / outputs, the recorded maps and the Siamese pairs."""
    torch.manual_seed(0)
    backbone = dict(type='ResNet', depth=18, base_channels=8, stem_channels=8, strides=(1, 1, 2, 1))
    model = MODELS.build(dict(type='CASN', backbone=backbone, num_classes=4, head=head,
                              head_cfg=dict(stripe_dim=16) if head == 'pcb' else dict(embed_dim=16)))
    model.double().train()
    model.loss_ia, model.loss_sa = Recorder(), Recorder()
    seen = {}

    def keep_head_io(module, args, out):
        seen.setdefault('head', (args[0], *out))  # the real images' pass (the masked pass comes later)
    model.head.register_forward_hook(keep_head_io)
    pairs = []

    def recorded_pairs(*args, **kwargs):
        pairs.append(casn_model_sample_pairs(*args, **kwargs))
        return pairs[-1]
    casn_model_sample_pairs = casn_model.sample_pairs
    monkeypatch.setattr(casn_model, 'sample_pairs', recorded_pairs)

    img = torch.randn(8, 3, 48, 16, dtype=torch.double)
    samples = [DataSample().set_gt_label(i // 2) for i in range(8)]
    model.loss(dict(img=img), samples)
    return model, seen['head'], model.loss_ia.maps[0], model.loss_sa.maps, pairs[0]


@pytest.mark.parametrize('head', ['pcb', 'ide'])
def test_identification_and_siamese_maps_are_per_image(head, monkeypatch):
    model, (feat_map, f, logits), id_maps, (sa_first, sa_second), (first, second, same) = run_loss(head, monkeypatch)
    pids = torch.arange(8) // 2
    true_class = torch.stack([lg.gather(1, pids[:, None]).squeeze(1) for lg in logits]).sum(0)
    importance = f.clamp(min=0).sum(dim=1)
    id_expected = per_score_maps(feat_map, true_class, (48, 16))
    sa_expected = per_score_maps(feat_map, importance, (48, 16))
    sa_maps = torch.cat([sa_first, sa_second])
    sa_expected = torch.cat([sa_expected[first[same]], sa_expected[second[same]]])
    assert sa_maps.size(0) >= 2
    for name, maps, expected in (('identification', id_maps, id_expected), ('Siamese', sa_maps, sa_expected)):
        cos = F.cosine_similarity(maps.detach().flatten(1), expected.detach().flatten(1), dim=1)
        assert torch.allclose(maps, expected, rtol=0, atol=1e-9), \
            f'{head} {name} maps vs per-image maps: cosine mean {cos.mean():.3f}, min {cos.min():.3f}'

    # the maps carry a graph, and a loss on them sends the per-score loop's gradient into the network
    assert id_maps.grad_fn is not None and sa_maps.grad_fn is not None
    torch.manual_seed(1)
    w_id, w_sa = torch.rand_like(id_maps), torch.rand_like(sa_maps)
    names, params = zip(*[(n, p) for n, p in model.named_parameters() if not n.startswith('siamese_head')])
    got = torch.autograd.grad((w_id * id_maps).sum() + (w_sa * sa_maps).sum(), params, retain_graph=True,
                              allow_unused=True)
    want = torch.autograd.grad((w_id * id_expected).sum() + (w_sa * sa_expected).sum(), params, allow_unused=True)
    for name, g, w in zip(names, got, want):
        if w is None:
            assert g is None or g.abs().max() == 0, name
            continue
        assert g is not None and torch.allclose(g, w, rtol=1e-6, atol=1e-10), name
    assert want[0].abs().sum() > 0  # the backbone's first conv, through the maps
