"""Image loading that names the file it could not read (and can skip corrupt files in training)."""
import warnings

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform
from mmengine import fileio
from mmpretrain.registry import TRANSFORMS


@TRANSFORMS.register_module()
class LoadReIDImage(BaseTransform):
    """Load ``results['img_path']`` like mmcv's ``LoadImageFromFile``, with a clear error on bad files.

    Infrared/thermal images are loaded as 3-channel images like every other image (``color_type='color'``),
    in mmcv's BGR channel order (the data preprocessor converts to RGB).

    **Required keys:** ``img_path``. **Added keys:** ``img`` (uint8 (H, W, 3)), ``img_shape``, ``ori_shape``.

    Args:
        to_float32 (bool): convert the image to float32. Default False (uint8).
        color_type (str): ``flag`` of :func:`mmcv.imfrombytes`. Default ``'color'``.
        imdecode_backend (str): decoding backend of :func:`mmcv.imfrombytes`. Default ``'cv2'``.
        backend_args (dict, optional): file backend arguments of :func:`mmengine.fileio.get`.
        skip_corrupt (bool): if True, a missing/unreadable/corrupt file is not fatal: a warning with the path
            and a running count of skipped files is issued and ``None`` is returned, so that mmengine's
            ``BaseDataset`` (training mode) draws another sample. Default False: raise ``OSError`` naming
            the path.
    """

    def __init__(self, to_float32=False, color_type='color', imdecode_backend='cv2', backend_args=None,
                 skip_corrupt=False):
        self.to_float32 = to_float32
        self.color_type = color_type
        self.imdecode_backend = imdecode_backend
        self.backend_args = backend_args
        self.skip_corrupt = skip_corrupt
        self.num_skipped = 0  # per process (each dataloader worker counts its own)

    def transform(self, results):
        path = results.get('img_path')
        if path is None:
            raise KeyError(f'LoadReIDImage: sample {results.get("sample_idx")} has no "img_path" '
                           f'(keys: {sorted(results)}); text samples must not go through an image pipeline')
        try:
            img = self._read(path)
        except OSError as error:
            if not self.skip_corrupt:
                raise
            self.num_skipped += 1
            warnings.warn(f'{error}; skipped (skip_corrupt=True), {self.num_skipped} unreadable image(s) '
                          f'skipped so far in this process')
            return None
        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results

    def _read(self, path):
        try:
            img_bytes = fileio.get(path, backend_args=self.backend_args)
        except Exception as error:  # missing file, permission, backend error
            raise OSError(f'LoadReIDImage: cannot read image file {path}: {error}') from error
        try:
            img = mmcv.imfrombytes(img_bytes, flag=self.color_type, backend=self.imdecode_backend)
        except Exception as error:
            raise OSError(f'LoadReIDImage: cannot decode image file {path} (corrupt?): {error}') from error
        if img is None or img.size == 0:
            raise OSError(f'LoadReIDImage: cannot decode image file {path} (corrupt or not an image, '
                          f'{len(img_bytes)} bytes)')
        return img

    def __repr__(self):
        return (f'{self.__class__.__name__}(to_float32={self.to_float32}, color_type={self.color_type!r}, '
                f'imdecode_backend={self.imdecode_backend!r}, skip_corrupt={self.skip_corrupt})')
