"""Word attention module (WAM) of SSAN's part-specific feature learning."""
from typing import Tuple

import torch
import torch.nn as nn


class WordAttentionModule(nn.Module):
    """Scores how likely each word describes each of the K body parts and pools part-specific text features.

    ``s_i^k = sigmoid(W_p^k e_i)``; ``E_k = [s_1^k e_1, ..., s_n^k e_n]``; the part's text feature is the
    row-wise max pooling (RMP) of ``E_k`` over the valid (non-padding) words. The scores depend on the
    caption only, so text features at inference stay independent of the gallery.

    Args:
        in_channels (int): word feature dimension C.
        num_parts (int): K. Defaults to 6.
    """

    def __init__(self, in_channels: int, num_parts: int = 6):
        super().__init__()
        self.num_parts = num_parts
        # W_p^k for all k at once: one bias-free 1x1 conv C -> K in the official code, which keeps PyTorch's
        # default init (it is not among the layers its Kaiming init visits). nn.Linear's default draws from the
        # same U(-1/sqrt(C), 1/sqrt(C)): the scores start near 0.5 for every part. A Kaiming fan-out init
        # (std sqrt(2/K), ~45x larger at C = 2048) saturates ~6 % of the sigmoids at the start.
        self.score = nn.Linear(in_channels, num_parts, bias=False)

    def word_part_scores(self, words: torch.Tensor) -> torch.Tensor:
        """
        Args:
            words (Tensor): word features e_i, shape (B, n, C).

        Returns:
            Tensor: s_i^k in (0, 1), shape (B, n, K).
        """
        return torch.sigmoid(self.score(words))

    def forward(self, words: torch.Tensor, mask: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """
        Args:
            words (Tensor): word features, shape (B, n, C).
            mask (Tensor): bool, True for real words, shape (B, n).

        Returns:
            tuple[Tensor, Tensor]: part features RMP(E_k), shape (B, K, C), and the scores, shape (B, n, K).
        """
        scores = self.word_part_scores(words)
        weighted = scores.unsqueeze(-1) * words.unsqueeze(2)  # (B, n, K, C)
        weighted = weighted.masked_fill(~mask.view(mask.size(0), -1, 1, 1), float('-inf'))
        return weighted.max(dim=1).values, scores
