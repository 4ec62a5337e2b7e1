"""Collate function for ReID batches whose samples may carry different inputs (image or caption)."""
from mmengine.registry import FUNCTIONS


@FUNCTIONS.register_module()
def reid_collate(data_batch):
    """Keep per-sample input dicts as a list; ``ReIDDataPreprocessor`` stacks them per key.

    ``pseudo_collate`` needs every sample to have the same keys, which a text-image test batch (images and
    captions mixed) does not have.

    Args:
        data_batch (list[dict]): outputs of ``PackReIDInputs``.

    Returns:
        dict: ``inputs`` (list of dicts) and ``data_samples`` (list of DataSample).
    """
    return dict(inputs=[d['inputs'] for d in data_batch],
                data_samples=[d['data_samples'] for d in data_batch])
