"""Pairs for the Siamese module, drawn inside a P x K identity batch: half positive, half negative.

In training the batch is the global one (the ids gathered from every rank) and the generator is
``shared_generator('casn.pairs')``, so every rank draws the 1-process pairs (see ``CASN.global_pairs``).
"""
from typing import Optional, Tuple

import torch


def sample_pairs(pids: torch.Tensor,
                 num_pairs: Optional[int] = None,
                 generator: Optional[torch.Generator] = None) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sample ``num_pairs`` distinct index pairs (i < j): ``num_pairs // 2`` of the same identity, the rest of
    different identities.

    When the batch has fewer positive pairs than asked for (e.g. K = 1), the remainder is filled with
    negative pairs, and vice versa, so the number of pairs stays fixed.

    Args:
        pids (Tensor): person ids of the batch (in training: the gathered global batch), shape (B,).
        num_pairs (int, optional): pairs to draw. Defaults to B // 2.
        generator (torch.Generator, optional): a CPU random source (default: torch's global one). Training
            passes ``shared_generator('casn.pairs')``: the same draw on every rank and at any world size.

    Returns:
        tuple[Tensor, Tensor, Tensor]: first indices (N,), second indices (N,), ``same`` bool (N,), positives
        first.
    """
    n = pids.numel()
    num_pairs = n // 2 if num_pairs is None else num_pairs
    i, j = torch.triu_indices(n, n, offset=1, device=pids.device)
    same = pids[i] == pids[j]
    pos, neg = same.nonzero().squeeze(1), (~same).nonzero().squeeze(1)
    num_pos = min(num_pairs // 2, pos.numel())
    num_neg = min(num_pairs - num_pos, neg.numel())
    num_pos = min(num_pairs - num_neg, pos.numel())

    def pick(candidates, k):
        order = torch.randperm(candidates.numel(), generator=generator, device='cpu')[:k]
        return candidates[order.to(candidates.device)]

    chosen = torch.cat([pick(pos, num_pos), pick(neg, num_neg)])
    return i[chosen], j[chosen], same[chosen]
