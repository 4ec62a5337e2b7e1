"""Small helpers shared by the ReID models."""
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
