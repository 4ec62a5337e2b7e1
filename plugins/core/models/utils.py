"""Small helpers shared by the ReID models."""
from typing import Optional

import torch


def set_pred_features(data_samples, index, feats):
    """Write one feature vector per sample as ``pred_feature``.

    Args:
        data_samples (list[DataSample]): the batch's samples.
        index (Tensor | Sequence[int]): positions in the batch of the rows of ``feats``, shape (N,).
        feats (Tensor): features, shape (N, D).

    Returns:
        list[DataSample]: ``data_samples``, updated in place.
    """
    feats = feats.detach()
    for row, pos in enumerate(torch.as_tensor(index).tolist()):
        data_samples[pos].set_field(feats[row], 'pred_feature')
    return data_samples


def gt_pids(data_samples, device=None):
    """Person ids of a batch as a LongTensor of shape (B,)."""
    pids = torch.cat([s.gt_label.view(-1) for s in data_samples])
    return pids.to(device) if device is not None else pids


def caption_mask(token_ids: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Bool mask of the real words of a padded batch of captions; an empty caption keeps its first position.

    A caption whose words were all dropped (out of the vocabulary, or empty) would leave a pooling or an
    attention over no position (NaN); keeping its first (padding) position keeps it defined. Written out of place
    so that the ONNX / TorchScript exporters trace it (they have no in-place ``|=``).

    Args:
        token_ids (Tensor): word ids, 0 = padding, shape (B, L).
        mask (Tensor, optional): the tokenizer's mask (1 = word), shape (B, L); derived from the ids when None.

    Returns:
        Tensor: bool, shape (B, L).
    """
    mask = token_ids.ne(0) if mask is None else mask.bool()
    if mask.shape != token_ids.shape:
        raise ValueError(f'caption_mask: text_mask shape {tuple(mask.shape)} differs from the text ids '
                         f'{tuple(token_ids.shape)}')
    return torch.cat([mask[:, :1] | ~mask.any(dim=1, keepdim=True), mask[:, 1:]], dim=1)
