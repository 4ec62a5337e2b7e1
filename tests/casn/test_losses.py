"""CASN losses against hand-worked values and the paper's formulas."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.func import functional_call

import plugins  # noqa: F401
from plugins.casn.losses import IdentificationAttentionLoss, SiameseAttentionLoss, crop_to_attention
from plugins.core.models.gradcam import grad_cam


class TinyNet(nn.Module):
    def __init__(self, num_classes=4):
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, stride=2, padding=1))
        self.fc = nn.Linear(8, num_classes)

    def forward(self, x):
        a = self.backbone(x)
        return a, self.fc(F.relu(a).pow(2).mean(dim=(2, 3)))


def test_soft_mask_and_prob_score_by_hand():
    loss = IdentificationAttentionLoss(alpha=10, beta=0.5)
    maps = torch.tensor([[[[0.0, 0.5], [1.0, 0.7]]]])
    expected_mask = 1 / (1 + torch.exp(-10 * (maps - 0.5)))
    assert torch.allclose(loss.soft_mask(maps), expected_mask)
    img = torch.ones(1, 3, 2, 2)
    masked = loss.mask_images(img, maps)
    assert torch.allclose(masked[0, 1], 1 - expected_mask[0, 0])
    # a classifier that returns fixed logits: L_ia = softmax prob of the true class (mean over batch / stripes)
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 3.0]])
    targets = torch.tensor([0, 1])
    p0 = torch.exp(torch.tensor(2.0)) / (torch.exp(torch.tensor(2.0)) + 2)
    p1 = torch.exp(torch.tensor(1.0)) / (1 + torch.exp(torch.tensor(1.0)) + torch.exp(torch.tensor(3.0)))
    value = loss(torch.zeros(2, 3, 2, 2), torch.zeros(2, 1, 2, 2), targets, lambda x: logits)
    assert torch.allclose(value, (p0 + p1) / 2)
    # two stripes: averaged; raw logit option
    value = loss(torch.zeros(2, 3, 2, 2), torch.zeros(2, 1, 2, 2), targets, lambda x: [logits, logits.flip(1)])
    q0 = 1 / (torch.exp(torch.tensor(2.0)) + 2)
    q1 = torch.exp(torch.tensor(1.0)) / (1 + torch.exp(torch.tensor(1.0)) + torch.exp(torch.tensor(3.0)))
    assert torch.allclose(value, (p0 + p1 + q0 + q1) / 4)
    raw = IdentificationAttentionLoss(score='logit', loss_weight=2.0)
    assert torch.allclose(raw(torch.zeros(2, 3, 2, 2), torch.zeros(2, 1, 2, 2), targets, lambda x: logits),
                          torch.tensor(2.0 * (2.0 + 1.0) / 2))


def test_ia_gradient_reaches_backbone_through_the_mask():
    torch.manual_seed(0)
    net = TinyNet()
    img = torch.randn(3, 3, 8, 8)
    targets = torch.tensor([0, 2, 3])
    frozen = {k: v.detach() for k, v in net.named_parameters()}

    def classify_frozen(x):  # same weights, but no gradient path to them: only the mask can carry it
        return functional_call(net, frozen, (x,))[1]

    loss = IdentificationAttentionLoss()
    act, logits = net(img)
    maps = grad_cam(act, logits.gather(1, targets[:, None]).squeeze(1), output_size=(8, 8), create_graph=True)
    loss(img, maps, targets, classify_frozen).backward()
    first_conv = net.backbone[0].weight.grad
    assert first_conv is not None and first_conv.abs().sum() > 0
    assert net.fc.weight.grad.abs().sum() > 0  # through the Grad-CAM channel weights (create_graph)

    # control: a detached map gives no gradient at all on this path
    net.zero_grad(set_to_none=True)
    act, logits = net(img)
    maps = grad_cam(act, logits.gather(1, targets[:, None]).squeeze(1), output_size=(8, 8), create_graph=False)
    out = loss(img, maps, targets, classify_frozen)
    assert not out.requires_grad


def test_crop_to_attention_by_hand():
    m = torch.zeros(6, 5)
    m[1:3, 2:4] = torch.tensor([[0.6, 0.9], [0.4, 1.0]])  # 0.4 is below t: zeroed but inside the box
    crop = crop_to_attention(m, 0.5, (2, 2))  # same size as the box: bilinear resize is the identity
    assert torch.allclose(crop, torch.tensor([[0.6, 0.9], [0.0, 1.0]]))
    # nothing above t: the whole (zeroed) map is used
    assert torch.all(crop_to_attention(torch.full((4, 4), 0.2), 0.5, (3, 3)) == 0)


def test_sa_zero_for_identical_positive_otherwise():
    torch.manual_seed(0)
    loss = SiameseAttentionLoss(threshold=0.5, size=(8, 4))
    a = torch.rand(3, 1, 16, 8)
    assert loss(a, a.clone()) == 0
    b = torch.rand(3, 1, 16, 8)
    assert loss(a, b) > 0
    # the same blob at another position and scale: cropping + resizing aligns it -> (near) zero
    blob = torch.zeros(16, 8)
    blob[2:6, 1:3] = 1.0
    moved = torch.zeros(16, 8)
    moved[8:16, 4:8] = 1.0
    assert loss(blob[None], moved[None]) < 1e-6
    # naive per-pair value: L2 between the cropped, resized maps, averaged over pairs
    expected = torch.stack([
        (crop_to_attention(x[0], 0.5, (8, 4)) - crop_to_attention(y[0], 0.5, (8, 4))).pow(2).sum().sqrt()
        for x, y in zip(a, b)]).mean()
    assert torch.allclose(loss(a, b), expected)
    # no positive pair: zero, still differentiable
    empty = torch.zeros(0, 1, 16, 8, requires_grad=True)
    out = loss(empty, empty)
    assert out == 0 and out.requires_grad


def test_sa_gradient_is_finite_at_identical_maps():
    a = torch.rand(2, 1, 16, 8, requires_grad=True)
    SiameseAttentionLoss()(a, a.detach().clone()).backward()
    assert torch.isfinite(a.grad).all()
