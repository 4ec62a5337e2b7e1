"""Packing of a pipeline's results into model inputs and a DataSample."""
import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmpretrain.registry import TRANSFORMS
from mmpretrain.structures import DataSample

#: Results keys that hold token ids (written by the tokenizer transforms).
TEXT_KEYS = ('text', 'text_mask', 'mlm_text', 'mlm_labels', 'weak_text', 'weak_text_mask')
#: Results keys copied into the DataSample's metainfo.
META_KEYS = ('camid', 'modality', 'split_role', 'img_path', 'caption', 'sample_idx', 'ori_shape', 'img_shape',
             'flip', 'dataset_name')


def _image_to_tensor(img):
    if img.ndim == 2:
        img = img[..., None]
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))


@TRANSFORMS.register_module()
class PackReIDInputs(BaseTransform):
    """Pack an image and/or token ids and the ReID labels (pid, camera, modality, role).

    Output: ``{'inputs': dict(img=uint8 (C,H,W) tensor, text=LongTensor (L,), ...), 'data_samples': DataSample}``
    following ``docs/data_contract.md``.

    Args:
        meta_keys (Sequence[str]): results keys copied into the data sample's metainfo when present.
    """

    def __init__(self, meta_keys=META_KEYS):
        self.meta_keys = tuple(meta_keys)

    def transform(self, results):
        inputs = {}
        if 'img' in results:
            inputs['img'] = _image_to_tensor(results['img'])
        for key in TEXT_KEYS:
            if key in results:
                inputs[key] = torch.as_tensor(np.asarray(results[key]), dtype=torch.long)
        if not inputs:
            raise KeyError(f'PackReIDInputs: sample {results.get("sample_idx")} has neither an image nor tokens '
                           f'(keys: {sorted(results)})')
        sample = DataSample()
        sample.set_gt_label(int(results['gt_label']))
        sample.set_metainfo({k: results[k] for k in self.meta_keys if k in results})
        return dict(inputs=inputs, data_samples=sample)

    def __repr__(self):
        return f'{self.__class__.__name__}(meta_keys={self.meta_keys})'
