"""CAL's view of the global batch: where this rank's rows sit in the 1-process batch, partners drawn on it.

``CrossModalitySampler`` gives every rank ``[K visible x P_r ids, K infrared x the same ids]``; the 1-process
batch of the same step is ``[visible of all ids, infrared of all ids]``. Concatenating the per-rank batches in
rank order (what ``all_gather_with_grad`` does) gives ``[v_0, i_0, v_1, i_1, ...]``, not the 1-process order
``[v_0, v_1, ..., i_0, i_1, ...]``: the 1-process order is the rank-order concatenation *stably sorted by
modality* (visible first). That rule needs no equal halves nor equal ``P_r`` (and at world size 1 it is the
identity for a batch that already lists its visible images first, as the sampler's does).

Everything here goes through ``plugins.core.distributed`` and is the identity at world size 1.
"""
from typing import NamedTuple

import torch

from plugins.core import distributed


class CrossModalLayout(NamedTuple):
    """The global batch's identities and modalities, known identically on every rank.

    Attributes:
        pids (Tensor): long (G,), person ids of the global batch in rank order (rank 0's rows first).
        is_infrared (Tensor): bool (G,), in rank order.
        sizes (tuple[int]): rows per rank.
        local (slice): this rank's rows in the rank-order global batch.
        order (Tensor): long (G,); ``order[c]`` is the rank-order row of position ``c`` of the 1-process batch.
    """
    pids: torch.Tensor
    is_infrared: torch.Tensor
    sizes: tuple
    local: slice
    order: torch.Tensor


def cross_modal_layout(pids: torch.Tensor, is_infrared: torch.Tensor) -> CrossModalLayout:
    """Gather the ids and modalities of every rank (one collective) and find the 1-process order.

    Args:
        pids (Tensor): long (N_r,) of this rank.
        is_infrared (Tensor): bool (N_r,) of this rank.
    """
    # One gather for ids, modalities and the owning rank (from which the per-rank sizes follow).
    rows = torch.stack([pids.long(), is_infrared.long(), torch.full_like(pids.long(), distributed.rank())], 1)
    rows = distributed.all_gather_no_grad(rows)
    sizes = tuple(torch.bincount(rows[:, 2], minlength=distributed.world_size()).tolist())
    start = sum(sizes[:distributed.rank()])
    flags = rows[:, 1].bool()
    order = torch.sort(flags.long(), stable=True).indices  # visible first, rank order kept within a modality
    return CrossModalLayout(rows[:, 0], flags, sizes, slice(start, start + pids.numel()), order)


def draw_global_partners(layout: CrossModalLayout, find_partners, name: str = 'cal.partners'):
    """Partners of every sample of the global batch, drawn as 1 process draws them.

    The draw is ``find_partners`` on the 1-process batch with ``shared_generator(name)``, so it is the same on
    every rank and at every world size; the result is returned in rank order.

    Args:
        layout (CrossModalLayout): the global batch.
        find_partners (callable): ``(pids, is_infrared, generator) -> (partner, valid)`` over one batch.

    Returns:
        tuple: partner (G,) long, the rank-order row of each rank-order row's partner (itself when it has
        none), and valid (G,) bool.
    """
    order = layout.order
    partner, valid = find_partners(layout.pids[order], layout.is_infrared[order],
                                   generator=distributed.shared_generator(name))
    # 1-process position c is rank-order row order[c]; its partner is 1-process position partner[c].
    partner_rows, valid_rows = torch.empty_like(partner), torch.empty_like(valid)
    partner_rows[order] = order[partner]
    valid_rows[order] = valid
    return partner_rows, valid_rows


def all_rows_local(rows: torch.Tensor, layout: CrossModalLayout) -> bool:
    """Whether every rank finds the rows it needs (``rows[local slice of rank r]``) among its own rows.

    Decided from global information only, so every rank gets the same answer (and joins the same collectives).

    Args:
        rows (Tensor): long (G,), rank-order rows wanted by each rank-order row.
    """
    start = 0
    for size in layout.sizes:
        wanted = rows[start:start + size]
        if wanted.numel() and not bool(((wanted >= start) & (wanted < start + size)).all()):
            return False
        start += size
    return True


def take_global_rows(x: torch.Tensor, rows: torch.Tensor, layout: CrossModalLayout,
                     local: bool = None) -> torch.Tensor:
    """``global_x[rows[layout.local]]`` for this rank's samples: e.g. the feature map of each one's partner.

    With the sampler's layout an identity's images are all on one rank, so the partners are local and nothing
    is gathered; otherwise the rows of every rank are gathered (exact gradients into the owner's rows).

    Args:
        x (Tensor): (N_r, ...) per-sample tensor of this rank.
        rows (Tensor): long (G,), rank-order rows wanted by each rank-order row (every rank passes the same).
        layout (CrossModalLayout): the global batch.
        local (bool, optional): ``all_rows_local(rows, layout)`` if known already.

    Returns:
        Tensor: (N_r, ...).
    """
    wanted = rows[layout.local]
    if all_rows_local(rows, layout) if local is None else local:
        return x[wanted - layout.local.start]
    return distributed.all_gather_with_grad(x)[wanted]


def modality_groups(is_infrared: torch.Tensor):
    """``(flag, idx)`` for the visible (False) then the infrared (True) rows of this rank's batch.

    A modality absent from this rank is skipped in a 1-process run, but kept (with an empty ``idx``) in a
    distributed one: its stream's BatchNorm is over the global batch, a collective every rank must join.
    """
    for flag in (False, True):
        idx = torch.nonzero(is_infrared == flag, as_tuple=False).flatten()
        if idx.numel() or distributed.is_distributed():
            yield flag, idx
