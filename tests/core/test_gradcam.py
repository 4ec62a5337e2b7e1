"""Grad-CAM utility against a direct per-image computation, differentiable mode, named layers of a backbone."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.registry import MODELS

import plugins  # noqa: F401
from plugins.core.models.gradcam import (GradCAM, grad_cam, grad_cam_from_probe, normalize_maps, per_image_gradient,
                                         uses_batch_statistics)


class TinyNet(nn.Module):
    def __init__(self, num_classes=5):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU())
        self.target = nn.Conv2d(6, 8, 3, stride=2, padding=1)
        self.fc = nn.Linear(8, num_classes)

    def forward(self, x):
        a = F.relu(self.target(self.stem(x)))
        # a non-linear head, so the gradient varies over positions (unlike plain GAP + FC = CAM)
        return self.fc((a ** 2).mean(dim=(2, 3)))


def direct_grad_cam(net, img, classes):
    """Per image: autograd of its class score w.r.t. the target activations, weighted sum, ReLU, normalise."""
    out = []
    for n in range(img.size(0)):
        x = img[n:n + 1]
        act = net.target(net.stem(x))
        act.retain_grad()
        logits = net.fc((F.relu(act) ** 2).mean(dim=(2, 3)))
        logits[0, classes[n]].backward()
        grad = act.grad[0]  # (C, h, w)
        cam = torch.zeros(act.shape[-2:])
        for c in range(act.size(1)):
            cam += grad[c].mean() * act[0, c].detach()
        cam = cam.clamp(min=0)
        cam = F.interpolate(cam[None, None], size=img.shape[-2:], mode='bilinear', align_corners=False)[0, 0]
        lo, hi = cam.min(), cam.max()
        out.append((cam - lo) / (hi - lo))
    return torch.stack(out)


def test_gradcam_matches_direct_computation():
    torch.manual_seed(0)
    net = TinyNet()
    img = torch.randn(3, 3, 12, 10)
    classes = [1, 4, 0]
    # hook on the conv (pre-ReLU output) -- the ReLU after it is part of the "head" for the gradient
    cam = GradCAM(net, 'target')
    maps = cam(img, lambda x: net(x)[torch.arange(3), classes])
    assert all(p.grad is None for p in net.parameters()), 'Grad-CAM must not write parameter gradients'
    expected = direct_grad_cam(net, img, classes)
    assert maps.shape == (3, 1, 12, 10)
    assert torch.allclose(maps[:, 0], expected, atol=1e-5)
    assert maps.min() >= 0 and maps.max() <= 1
    assert torch.allclose(maps.flatten(1).max(1).values, torch.ones(3), atol=1e-5)


def test_gradcam_runs_under_no_grad_and_differentiable_mode():
    torch.manual_seed(1)
    net = TinyNet().double()
    img = torch.randn(2, 3, 8, 8, dtype=torch.double)
    cam = GradCAM(net, 'target')
    with torch.no_grad():  # like a validation loop
        maps = cam(img, lambda x: net(x)[:, 0])
    assert not maps.requires_grad and maps.shape == (2, 1, 8, 8)

    # create_graph: the map is a differentiable function of the input (checked numerically)
    def map_of_input(x):
        return GradCAM(net, 'target')(x, lambda y: net(y)[:, 2], create_graph=True, normalize=False)
    x = img.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(map_of_input, (x,), eps=1e-6, atol=1e-5)
    # and the gradient of a loss on the map reaches the parameters of the layers below the target
    loss = GradCAM(net, 'target')(img, lambda y: net(y)[:, 2], create_graph=True).sum()
    loss.backward()
    assert net.stem[0].weight.grad.abs().sum() > 0


def test_normalize_maps_and_errors():
    m = torch.tensor([[[2.0, 4.0], [3.0, 6.0]]])
    assert torch.allclose(normalize_maps(m), torch.tensor([[[0.0, 0.5], [0.25, 1.0]]]), atol=1e-6)
    assert torch.all(normalize_maps(torch.full((1, 2, 2), 3.0)) == 0)
    with pytest.raises(ValueError, match='not a module'):
        GradCAM(TinyNet(), 'backbone.layer9')
    with pytest.raises(ValueError, match='one score per image'):
        a = torch.randn(2, 3, 4, 4, requires_grad=True)
        grad_cam(a, a.sum())


def test_gradcam_on_registered_backbone_by_name():
    torch.manual_seed(0)
    model = MODELS.build(dict(type='ReIDBaseline', backbone=dict(type='ResNet', depth=18), num_classes=4))
    model.eval()
    img = torch.randn(2, 3, 64, 32)
    cam = GradCAM(model, 'backbone.layer3')
    with torch.no_grad():
        maps = cam(img, lambda x: model(dict(img=x), mode='tensor').relu().sum(1))
    assert maps.shape == (2, 1, 64, 32)
    assert torch.isfinite(maps).all() and maps.max() <= 1 and maps.min() >= 0


# ------------------------------------------------------------------ per-image maps under batch statistics
class BatchNormHeadNet(nn.Module):
    """Conv stem -> target conv (the Grad-CAM layer A) -> a head with BatchNorm after A (batch statistics in
    training mode couple the images: score n depends on every image's activations)."""

    def __init__(self, num_classes=5):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU())
        self.target = nn.Conv2d(6, 8, 3, stride=2, padding=1)
        self.head = nn.Sequential(nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 8, 1), nn.BatchNorm2d(8), nn.ReLU())
        self.embed = nn.Sequential(nn.Linear(8, 6), nn.BatchNorm1d(6))
        self.fc = nn.Linear(6, num_classes)

    def forward(self, x):
        act = self.target(self.stem(x))
        return act, self.fc(self.embed(self.head(act).mean(dim=(2, 3))))


def per_score_grad_cam(act, scores, size, create_graph):
    """Reference: one autograd.grad per score; map n from the gradient's slice n (channel weights = spatial
    mean of it), ReLU of the weighted sum, bilinear upsampling, min-max normalisation."""
    maps = []
    for n in range(scores.numel()):
        grad, = torch.autograd.grad(scores[n], act, retain_graph=True, create_graph=create_graph)
        weights = grad[n].mean(dim=(1, 2))  # (C,)
        cam = F.relu((weights[:, None, None] * act[n]).sum(0))
        cam = F.interpolate(cam[None, None], size=size, mode='bilinear', align_corners=False)[0, 0]
        maps.append((cam - cam.min()) / (cam.max() - cam.min()))
    return torch.stack(maps)[:, None]


def cosines(maps, reference):
    return F.cosine_similarity(maps.flatten(1), reference.flatten(1), dim=1)


def test_grad_cam_is_per_image_with_batchnorm_in_training_mode():
    torch.manual_seed(0)
    net = BatchNormHeadNet().double().train()
    img = torch.randn(6, 3, 12, 8, dtype=torch.double)
    classes = torch.tensor([1, 4, 0, 2, 2, 3])
    act, logits = net(img)
    scores = logits.gather(1, classes[:, None]).squeeze(1)
    expected = per_score_grad_cam(act, scores, (12, 8), create_graph=True)
    # the test means something: the gradient of sum_n s_n gives clearly different maps on this network
    summed = per_score_grad_cam(act, scores.sum().expand(6), (12, 8), create_graph=False)
    assert cosines(summed, expected).min() < 0.95

    maps = grad_cam(act, scores, output_size=(12, 8), create_graph=True)
    cos = cosines(maps.detach(), expected.detach())
    assert torch.allclose(maps, expected, rtol=0, atol=1e-9), \
        f'cosine to the per-image maps: mean {cos.mean():.3f}, min {cos.min():.3f}'
    # differentiable (create_graph): a loss on the maps has the per-score loop's parameter gradients
    assert maps.requires_grad and maps.grad_fn is not None
    weights = torch.rand_like(maps)
    params = [p for p in net.parameters()]
    got = torch.autograd.grad((weights * maps).sum(), params, retain_graph=True, allow_unused=True)
    want = torch.autograd.grad((weights * expected).sum(), params, retain_graph=True, allow_unused=True)
    for (name, _), g, w in zip(net.named_parameters(), got, want):
        if w is None:  # parameters the maps do not depend on
            assert g is None or g.abs().max() == 0, name
            continue
        assert torch.allclose(g, w, rtol=1e-7, atol=1e-10), name
    assert got[0].abs().sum() > 0  # the stem, below A, gets a gradient through the maps


def test_gradcam_class_is_per_image_in_training_mode_and_cheap_in_eval_mode():
    torch.manual_seed(2)
    net = BatchNormHeadNet().double()
    img = torch.randn(4, 3, 12, 8, dtype=torch.double)
    for training in (True, False):
        net.train(training)
        assert uses_batch_statistics(net) == training
        maps = GradCAM(net, 'target')(img, lambda x: net(x)[1][:, 2])
        act, logits = net(img)
        expected = per_score_grad_cam(act, logits[:, 2], (12, 8), create_graph=False)
        assert torch.allclose(maps, expected, rtol=0, atol=1e-9), f'training={training}'
    # BatchNorm without running statistics normalises with the batch in eval mode too
    net.eval()
    net.embed[1].track_running_stats = False
    net.embed[1].running_mean = net.embed[1].running_var = None
    assert uses_batch_statistics(net)


def test_per_image_gradient_in_chunks_and_shift_probe():
    torch.manual_seed(3)
    net = BatchNormHeadNet().double().train()
    img = torch.randn(5, 3, 12, 8, dtype=torch.double)
    act = net.target(net.stem(img))
    # a head that reads A only through averages (like stripe-pooling heads), with a zero shift probe on them
    probe = act.new_zeros(act.shape[:2], requires_grad=True)
    pooled = F.adaptive_avg_pool2d(act, (3, 1)).flatten(2) + probe[:, :, None]  # (B, C, 3 stripes)
    scores = net.fc(net.embed(pooled.relu().pow(2).mean(2))).max(1).values
    expected = torch.stack([torch.autograd.grad(scores[n], act, retain_graph=True)[0][n] for n in range(5)])
    one_per_chunk = per_image_gradient(scores, act, retain_graph=True, max_elements=act.numel())  # 5 chunks
    two_per_chunk = per_image_gradient(scores, act, retain_graph=True, max_elements=2 * act.numel())  # 2+2+1
    assert torch.allclose(one_per_chunk, expected, rtol=0, atol=1e-12)
    assert torch.allclose(two_per_chunk, expected, rtol=0, atol=1e-12)
    # probe: same maps as per-image Grad-CAM on A, and a loss on them has the same gradient
    maps = grad_cam_from_probe(act, scores, probe, output_size=(12, 8), create_graph=True)
    reference = per_score_grad_cam(act, scores, (12, 8), create_graph=True)
    assert torch.allclose(maps, reference, rtol=0, atol=1e-9)
    weights = torch.rand_like(maps)
    got = torch.autograd.grad((weights * maps).sum(), net.stem[0].weight, retain_graph=True)[0]
    want = torch.autograd.grad((weights * reference).sum(), net.stem[0].weight, retain_graph=True)[0]
    assert torch.allclose(got, want, rtol=1e-7, atol=1e-10)
    with pytest.raises(ValueError, match=r'probe must be \(B, C\)'):
        grad_cam_from_probe(act, scores, probe[:, :3], create_graph=True)
    with pytest.raises(ValueError, match=r'need scores \(B,\) and inputs \(B, ...\)'):
        per_image_gradient(scores[:4], act)
