"""Compound ranking loss of SSAN (Ding et al., 2021), with the official code's negative mining."""
from typing import Optional

import torch
import torch.nn as nn
from mmpretrain.registry import MODELS

from plugins.core import distributed


def cosine_similarity_matrix(x: torch.Tensor, y: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Cosine similarities of all rows of ``x`` with all rows of ``y``.

    ``eps`` is added to the norms (not clamped), as in the official SSAN code.

    Args:
        x (Tensor): shape (B, ...), flattened to (B, D).
        y (Tensor): shape (N, ...), flattened to (N, D).

    Returns:
        Tensor: shape (B, N).
    """
    x = x.reshape(x.size(0), -1)
    y = y.reshape(y.size(0), -1)
    x = x / (x.norm(dim=1, keepdim=True) + eps)
    y = y / (y.norm(dim=1, keepdim=True) + eps)
    return x @ y.t()


@MODELS.register_module()
class CompoundRankingLoss(nn.Module):
    """Compound ranking (CR) loss with a weak positive caption and a dynamic margin.

    For an image ``I_p`` with its caption ``D_p`` and a weak positive caption ``D'_p`` (another caption of the
    same identity)::

        L = [a1 - S(I_p, D_p) + S(I_p, D_n)]+ + [a1 - S(I_p, D_p) + S(I_n, D_p)]+
          + beta [a2 - S(I_p, D'_p) + S(I_p, D'_n)]+ + beta [a2 - S(I_p, D'_p) + S(I_n, D'_p)]+
        a2 = (lambda + 1) a1 / 2,   lambda = min(|S(I_p, D'_p)| / |S(I_p, D_p)|, 1)   (not back-propagated)

    ``S`` is the cosine similarity. Following the official code (zifyloo/SSAN ``src/loss/RankingLoss.py``):

    * the weak term ranks against the *weak* captions of other identities (``D'_n``; the paper writes
      ``D_n``), i.e. it is the strong term applied to the image x weak-caption similarity matrix;
    * each anchor (every image row, then every caption column) gets one negative of another identity:
      ``'semi_hard'`` draws it at random among those whose hinge value is in ``(0, margin)`` (anchors without
      one contribute nothing), ``'hardest'`` takes the most similar negative (deterministic);
    * the dynamic margin is used from epoch ``dynamic_margin_begin`` on (0-based, as mmengine counts); before,
      ``a2 = a1 / 2``; with it on, anchors whose ``a2 < skip_margin_below`` (0.16) are left out of the weak
      term;
    * hinge values are summed over anchors (``reduction='sum'``); ``'mean'`` averages each of the four terms
      over the anchors that contribute to it.

    Over the global batch: the features and ids of every rank are gathered (``gather=True``), the semi-hard
    negatives are drawn for the global batch from ``shared_generator('ssan.negatives')`` and the hinges are
    reduced over all global anchors, so every rank of a distributed run computes the 1-process loss (and
    DDP's gradient mean is the 1-process gradient).

    Deviation: when no anchor at all has a semi-hard negative, the official code still adds one triplet
    (last anchor, first negative) to avoid an empty tensor; here such a call simply contributes 0.

    The epoch is the one :meth:`set_train_epoch` recorded (``TrainEpochHook`` -> the model's
    ``set_train_epoch`` -> its losses; 0 until then) unless ``epoch`` is passed to ``forward``.

    Args:
        alpha (float): strong margin a1. Defaults to 0.2.
        beta (float): weight of the weak-positive terms. Defaults to 0.1.
        negative_mining (str): ``'semi_hard'`` (official) or ``'hardest'``.
        reduction (str): ``'sum'`` (official) or ``'mean'``.
        dynamic_margin_begin (int): first (0-based) epoch with the dynamic margin. Defaults to 5.
        skip_margin_below (float): weak-term anchors with a smaller dynamic a2 are skipped. Defaults to 0.16.
        eps (float): added to feature norms. Defaults to 1e-8.
        loss_weight (float): multiplier of the loss. Defaults to 1.0.
        gather (bool): gather the rows of every rank before computing the loss; False when the caller hands
            rows it already gathered. Defaults to True.
    """

    def __init__(self,
                 alpha: float = 0.2,
                 beta: float = 0.1,
                 negative_mining: str = 'semi_hard',
                 reduction: str = 'sum',
                 dynamic_margin_begin: int = 5,
                 skip_margin_below: float = 0.16,
                 eps: float = 1e-8,
                 loss_weight: float = 1.0,
                 gather: bool = True):
        super().__init__()
        if negative_mining not in ('semi_hard', 'hardest'):
            raise ValueError(f"CompoundRankingLoss: negative_mining must be 'semi_hard' or 'hardest', "
                             f'got {negative_mining!r}')
        if reduction not in ('sum', 'mean'):
            raise ValueError(f"CompoundRankingLoss: reduction must be 'sum' or 'mean', got {reduction!r}")
        self.alpha = alpha
        self.beta = beta
        self.negative_mining = negative_mining
        self.reduction = reduction
        self.dynamic_margin_begin = dynamic_margin_begin
        self.skip_margin_below = skip_margin_below
        self.eps = eps
        self.loss_weight = loss_weight
        self.gather = gather
        self.train_epoch = 0

    def set_train_epoch(self, epoch: int) -> None:
        """Record the 0-based training epoch (called through the model by ``TrainEpochHook``)."""
        self.train_epoch = int(epoch)

    def dynamic_margin_on(self, epoch: Optional[int]) -> bool:
        """Whether the dynamic margin (and the skip rule) applies at ``epoch`` (the recorded one when None)."""
        return (self.train_epoch if epoch is None else epoch) >= self.dynamic_margin_begin

    def weak_margin(self, sim_pos: torch.Tensor, sim_weak_pos: torch.Tensor) -> torch.Tensor:
        """Dynamic margin a2 = (lambda + 1) a1 / 2 with lambda = min(|S(I,D')| / |S(I,D)|, 1), detached.

        Args:
            sim_pos (Tensor): S(I_p, D_p), shape (B,).
            sim_weak_pos (Tensor): S(I_p, D'_p), shape (B,).
        """
        lam = (sim_weak_pos.detach().abs() / sim_pos.detach().abs()).clamp(max=1.0)
        return (lam + 1) * self.alpha / 2

    def _select_negatives(self, hinge: torch.Tensor, negative: torch.Tensor, margin: torch.Tensor,
                          generator: Optional[torch.Generator]):
        """One negative column per anchor row.

        Args:
            hinge (Tensor): ``margin - S(a, p) + S(a, n)`` for every anchor/column, shape (B, N), detached.
            negative (Tensor): bool, True where the column is of another identity, shape (B, N).
            margin (Tensor): the anchors' margins, shape (B,).
            generator (torch.Generator, optional): CPU generator of the semi-hard draws (shared by all ranks).

        Returns:
            tuple[Tensor, Tensor]: chosen column per anchor (B,) and whether the anchor has one (B,).
        """
        if self.negative_mining == 'hardest':
            # the most similar negative has the largest hinge value (same positive and margin per row)
            masked = hinge.masked_fill(~negative, float('-inf'))
            return masked.argmax(dim=1), negative.any(dim=1)
        candidates = negative & (hinge > 0) & (hinge < margin.view(-1, 1))
        has_one = candidates.any(dim=1)
        # uniform draw among the candidates; rows without one get a dummy uniform row and are masked out
        weights = torch.where(has_one.view(-1, 1), candidates, True).float()
        # drawn on CPU with the shared generator: the same draw on every rank, device and world size
        col = torch.multinomial(weights.cpu(), 1, generator=generator).view(-1)
        return col.to(hinge.device), has_one

    def _anchor_hinges(self, sim: torch.Tensor, pids: torch.Tensor, margin: torch.Tensor,
                       use_anchor: torch.Tensor, generator: Optional[torch.Generator]) -> torch.Tensor:
        """Reduced hinge of anchors on the rows of ``sim`` (positives on the diagonal).

        Args:
            sim (Tensor): similarities, anchors x candidates, shape (B, B).
            pids (Tensor): person ids, shape (B,).
            margin (Tensor): per-anchor margins, shape (B,).
            use_anchor (Tensor): bool mask of anchors allowed to contribute, shape (B,).
            generator (torch.Generator, optional): of the semi-hard draws.
        """
        pos = sim.diagonal()
        hinge = margin.view(-1, 1) - pos.view(-1, 1) + sim
        negative = pids.view(-1, 1) != pids.view(1, -1)
        col, has_one = self._select_negatives(hinge.detach(), negative, margin, generator)
        keep = has_one & use_anchor
        values = hinge.gather(1, col.view(-1, 1)).squeeze(1).clamp(min=0)[keep]
        if values.numel() == 0:
            return sim.sum() * 0.0
        return values.sum() if self.reduction == 'sum' else values.mean()

    def _ranking(self, sim: torch.Tensor, pids: torch.Tensor, margin: torch.Tensor,
                 use_anchor: torch.Tensor, generator: Optional[torch.Generator]) -> torch.Tensor:
        """Image-anchored (rows) plus caption-anchored (columns) hinge terms of one similarity matrix."""
        return (self._anchor_hinges(sim, pids, margin, use_anchor, generator)
                + self._anchor_hinges(sim.t(), pids, margin, use_anchor, generator))

    def forward(self,
                image_feats: torch.Tensor,
                text_feats: torch.Tensor,
                weak_text_feats: torch.Tensor,
                pids: torch.Tensor,
                epoch: Optional[int] = None) -> torch.Tensor:
        """
        Args:
            image_feats (Tensor): this rank's image features, shape (B, D) or (B, K, D) (flattened).
            text_feats (Tensor): features of each image's own caption, same shape.
            weak_text_feats (Tensor): features of another caption of the same identity, same shape.
            pids (Tensor): person ids, shape (B,).
            epoch (int, optional): 0-based training epoch; the one :meth:`set_train_epoch` recorded when None.

        Returns:
            Tensor: scalar loss over the global batch (the same on every rank).
        """
        if not image_feats.size(0) == text_feats.size(0) == weak_text_feats.size(0) == pids.numel():
            raise ValueError(f'CompoundRankingLoss: batch sizes differ: image {image_feats.size(0)}, text '
                             f'{text_feats.size(0)}, weak text {weak_text_feats.size(0)}, pids {pids.numel()}')
        pids = pids.view(-1)
        if self.gather:
            image_feats, text_feats, weak_text_feats = (
                distributed.all_gather_with_grad(f) for f in (image_feats, text_feats, weak_text_feats))
            pids = distributed.all_gather_no_grad(pids)
        # one stream per call (the n-th call of a step gets the n-th), consumed by its four draws in order
        generator = distributed.shared_generator('ssan.negatives') if self.negative_mining == 'semi_hard' else None
        sim = cosine_similarity_matrix(image_feats, text_feats, self.eps)
        sim_weak = cosine_similarity_matrix(image_feats, weak_text_feats, self.eps)
        everyone = torch.ones_like(pids, dtype=torch.bool)
        strong_margin = torch.full_like(sim.diagonal(), self.alpha).detach()
        if self.dynamic_margin_on(epoch):
            weak_margin = self.weak_margin(sim.diagonal(), sim_weak.diagonal())
            use_weak = weak_margin >= self.skip_margin_below
        else:
            weak_margin = strong_margin / 2
            use_weak = everyone
        loss = (self._ranking(sim, pids, strong_margin, everyone, generator)
                + self.beta * self._ranking(sim_weak, pids, weak_margin, use_weak, generator))
        return self.loss_weight * loss
