"""MatchDistill's two distillation losses (feature level ``L_kd1``, score level ``L_kd2``)."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.registry import MODELS

from plugins.core import distributed


def _per_sample_matching(matching: torch.Tensor, batch: int) -> torch.Tensor:
    return matching.view(1, -1).expand(batch, -1) if matching.dim() == 1 else matching


def _masked_mean(values: torch.Tensor, valid) -> torch.Tensor:
    """Mean of the per-sample ``values`` (B,) over the valid samples of the global batch (0 if there is none)."""
    if valid is None:
        return distributed.global_mean(values)
    return distributed.global_mean(values[valid], valid.sum())


@MODELS.register_module()
class MatchDistillFeatureLoss(nn.Module):
    """``L_kd1 = - sum_{(u,v) in M} w(u, v)``, ``w(u, v) = <S(X, P^other_u), S(X, P^own_v)>``.

    Maximises the overlap of matched spatial attention maps over the same feature map ``X``: the map drawn by
    the other modality's part query ``u`` (teacher, detached by default) and the one drawn by this image's own
    matched part query ``v``. Summed over the matched pairs, averaged over the samples of the global batch.

    Args:
        detach_teacher (bool): stop the gradient into the cross-modal (teacher) attention. Defaults to True.
        loss_weight (float): ``lambda_1``.
    """

    def __init__(self, detach_teacher: bool = True, loss_weight: float = 1.0):
        super().__init__()
        self.detach_teacher = detach_teacher
        self.loss_weight = loss_weight

    def forward(self, teacher_attn: torch.Tensor, student_attn: torch.Tensor, matching: torch.Tensor,
                valid: torch.Tensor = None) -> torch.Tensor:
        """
        Args:
            teacher_attn (Tensor): ``S(X, P^other)``, shape (B, N_p, HW).
            student_attn (Tensor): ``S(X, P^own)``, shape (B, N_p, HW).
            matching (Tensor): long, (N_p,) or per sample (B, N_p); teacher part u <-> student part matching[u].
            valid (Tensor, optional): bool, (B,); samples that take part.
        """
        if self.detach_teacher:
            teacher_attn = teacher_attn.detach()
        idx = _per_sample_matching(matching, student_attn.size(0))
        matched = student_attn.gather(1, idx.unsqueeze(-1).expand(-1, -1, student_attn.size(-1)))
        weights = (teacher_attn * matched).sum((1, 2))
        return -self.loss_weight * _masked_mean(weights, valid)


@MODELS.register_module()
class MatchDistillScoreLoss(nn.Module):
    """``L_kd2 = sum_{(u,v) in M} KL(p_u^{cross} || p_v^{self})``.

    ``p_u^{cross}`` is the identity posterior of the embedding refined with the other modality's part query u
    (teacher, detached by default), ``p_v^{self}`` that of the self-refined embedding of the matched own part v.
    Summed over the matched pairs, averaged over the samples of the global batch.

    Args:
        temperature (float): softmax temperature of both posteriors (the loss is multiplied by T^2).
        detach_teacher (bool): stop the gradient into the teacher posterior. Defaults to True.
        loss_weight (float): ``lambda_2``.
    """

    def __init__(self, temperature: float = 1.0, detach_teacher: bool = True, loss_weight: float = 1.0):
        super().__init__()
        self.temperature = temperature
        self.detach_teacher = detach_teacher
        self.loss_weight = loss_weight

    def forward(self, teacher_logits: torch.Tensor, student_logits: torch.Tensor, matching: torch.Tensor,
                valid: torch.Tensor = None) -> torch.Tensor:
        """
        Args:
            teacher_logits (Tensor): shape (B, N_p, num_classes).
            student_logits (Tensor): shape (B, N_p, num_classes).
            matching (Tensor): long, (N_p,) or (B, N_p); teacher part u <-> student part matching[u].
            valid (Tensor, optional): bool, (B,).
        """
        if self.detach_teacher:
            teacher_logits = teacher_logits.detach()
        t = self.temperature
        idx = _per_sample_matching(matching, student_logits.size(0))
        student = student_logits.gather(1, idx.unsqueeze(-1).expand(-1, -1, student_logits.size(-1)))
        log_p_teacher = F.log_softmax(teacher_logits / t, dim=-1)
        log_p_student = F.log_softmax(student / t, dim=-1)
        kl = (log_p_teacher.exp() * (log_p_teacher - log_p_student)).sum(-1).sum(-1)
        return self.loss_weight * t * t * _masked_mean(kl, valid)
