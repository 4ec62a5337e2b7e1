"""A tiny CAL and batches shaped like ReIDDataPreprocessor output (docs/data_contract.md section 3)."""
import torch
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import plugins  # noqa: F401

NUM_PARTS = 3


def tiny_cal(num_classes=6, **kwargs):
    torch.manual_seed(0)
    cfg = dict(type='CAL', num_classes=num_classes, num_parts=NUM_PARTS,
               backbone=dict(type='ResNet', depth=18, base_channels=8, strides=(1, 2, 2, 1), out_indices=(3,)),
               tsaa=dict(embed_dim=16), data_preprocessor=dict(type='ReIDDataPreprocessor'))
    cfg.update(kwargs)
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def samples(pids, modalities):
    out = []
    for pid, mod in zip(pids, modalities):
        s = DataSample()
        s.set_gt_label(pid)
        s.set_metainfo(dict(modality=mod))
        out.append(s)
    return out


def batch(pids, modalities, h=32, w=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    img = torch.randn(len(pids), 3, h, w, generator=g)
    return dict(img=img, img_index=torch.arange(len(pids))), samples(pids, modalities)
