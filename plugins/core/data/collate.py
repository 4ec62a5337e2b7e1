"""Collate function for ReID batches whose samples may carry different inputs (image or caption)."""
from typing import Dict, List

import torch
from mmengine.registry import FUNCTIONS

#: suffix of the positions entry that goes with every stacked input key
INDEX_SUFFIX = '_index'


def stack_inputs(per_sample: List[dict]) -> Dict[str, torch.Tensor]:
    """Per-sample input dicts -> ``{key: stack over the samples that have it, key + '_index': their positions}``.

    Args:
        per_sample (list[dict]): ``inputs`` of ``PackReIDInputs``, e.g. ``{'img': uint8 (3, H, W)}`` or
            ``{'text': int64 (L,)}``; samples of a mixed text/image test batch carry different keys.

    Returns:
        dict: e.g. ``img`` (N_img, 3, H, W), ``img_index`` (N_img,), ``text`` (N_txt, L), ``text_index``.
    """
    keys = []
    for sample in per_sample:
        keys.extend(k for k in sample if k not in keys)
    stacked = {}
    for key in keys:
        index = [i for i, sample in enumerate(per_sample) if key in sample]
        values = [per_sample[i][key] for i in index]
        shapes = sorted({tuple(v.shape) for v in values})
        if len(shapes) > 1:
            raise ValueError(f'reid_collate: inputs["{key}"] of one batch have different shapes {shapes}; the '
                             f'pipeline must resize images (and pad token ids) to one size')
        stacked[key] = torch.stack(values)
        stacked[key + INDEX_SUFFIX] = torch.tensor(index, dtype=torch.long)
    return stacked


def is_stacked(inputs) -> bool:
    """Whether ``inputs`` is the output of :func:`stack_inputs` (tensors with ``*_index`` positions)."""
    return isinstance(inputs, dict) and any(k.endswith(INDEX_SUFFIX) for k in inputs)


def unstack_inputs(inputs) -> List[dict]:
    """Any batch layout -> a list of per-sample input dicts.

    Accepts the stacked dict of :func:`reid_collate`, a list of per-sample dicts, mmengine's ``pseudo_collate``
    (dict of lists) or a tensor / list of images.
    """
    if is_stacked(inputs):
        num = 1 + max((int(v.max()) for k, v in inputs.items() if k.endswith(INDEX_SUFFIX) and v.numel()),
                      default=-1)
        samples = [{} for _ in range(num)]
        for key, value in inputs.items():
            if not key.endswith(INDEX_SUFFIX):
                for row, pos in zip(value, inputs[key + INDEX_SUFFIX].tolist()):
                    samples[pos][key] = row
        return samples
    if isinstance(inputs, dict):
        keys = list(inputs)
        return [{k: inputs[k][i] for k in keys} for i in range(len(inputs[keys[0]]))] if keys else []
    if isinstance(inputs, torch.Tensor):
        return [{'img': img} for img in inputs]
    return [x if isinstance(x, dict) else {'img': x} for x in inputs]


@FUNCTIONS.register_module()
def reid_collate(data_batch):
    """Stack the inputs per key in the loader worker; ``ReIDDataPreprocessor`` normalises and moves them.

    ``pseudo_collate`` needs every sample to have the same keys, which a text-image test batch (images and
    captions mixed) does not have. Stacking here rather than in the preprocessor matters for speed: a worker
    hands a batch to the main process through one shared-memory segment per tensor, so a list of per-sample
    tensors (64 images + 3 token tensors each for IRRA) costs hundreds of transfers per batch and made 2
    workers slower than loading in the main process.

    Args:
        data_batch (list[dict]): outputs of ``PackReIDInputs``.

    Returns:
        dict: ``inputs`` (see :func:`stack_inputs`) and ``data_samples`` (list of DataSample).
    """
    return dict(inputs=stack_inputs([d['inputs'] for d in data_batch]),
                data_samples=[d['data_samples'] for d in data_batch])
