"""Layers shared by the methods' heads: the BNNeck and the identity classifier of the ReID baselines, and the
feature width a head reads from its backbone."""
import torch.nn as nn


class BNNeck(nn.Module):
    """BatchNorm without a learnable shift before the classifier (Luo et al., BoT, 2019).

    Args:
        dim (int): feature dimension; input and output shape (B, dim).
    """

    def __init__(self, dim: int):
        super().__init__()
        self.bn = nn.BatchNorm1d(dim)
        self.bn.bias.requires_grad_(False)
        nn.init.constant_(self.bn.weight, 1.0)
        nn.init.constant_(self.bn.bias, 0.0)

    def forward(self, x):
        return self.bn(x)


def id_classifier(in_channels: int, num_classes: int, bias: bool = False) -> nn.Linear:
    """The identity classifier of the ReID baselines: a linear layer, weights N(0, 0.001), bias 0.

    Args:
        in_channels (int): feature dimension.
        num_classes (int): training identities.
        bias (bool): with a bias (IRRA's classifier has one). Defaults to False.
    """
    fc = nn.Linear(in_channels, num_classes, bias=bias)
    nn.init.normal_(fc.weight, std=0.001)
    if bias:
        nn.init.zeros_(fc.bias)
    return fc


def backbone_channels(backbone: nn.Module, in_channels=None, owner: str = 'model') -> int:
    """The feature width a head is built for: ``in_channels`` when given, else the backbone's ``feat_dim``.

    Args:
        backbone (nn.Module): the built backbone.
        in_channels (int, optional): the config's ``model.in_channels``.
        owner (str): the model's name, for the message.

    Raises:
        ValueError: neither is known; names the config key to set.
    """
    channels = in_channels or getattr(backbone, 'feat_dim', None)
    if channels is None:
        raise ValueError(f'{owner}: give `model.in_channels` (the backbone {type(backbone).__name__} has no '
                         f'`feat_dim` attribute)')
    return int(channels)
