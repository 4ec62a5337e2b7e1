"""CASN's Siamese head: P(same person) from the squared difference of two embeddings."""
import torch
import torch.nn as nn


class SiameseHead(nn.Module):
    """``d = (f1 - f2)^2`` (element-wise) -> FC -> one logit; ``sigmoid(logit)`` = P(same identity).

    Args:
        in_dim (int): embedding dimension.
    """

    def __init__(self, in_dim: int):
        super().__init__()
        self.fc = nn.Linear(in_dim, 1)
        nn.init.normal_(self.fc.weight, std=0.001)
        nn.init.zeros_(self.fc.bias)

    def forward(self, f1: torch.Tensor, f2: torch.Tensor) -> torch.Tensor:
        """
        Args:
            f1 (Tensor): first embeddings, shape (P, D).
            f2 (Tensor): second embeddings, shape (P, D).

        Returns:
            Tensor: logits, shape (P,) (apply sigmoid for P(same)).
        """
        return self.fc((f1 - f2).pow(2)).squeeze(1)
