"""Grad-CAM overlays of query images written during validation and test (any model, any named layer)."""
import os.path as osp
from typing import List, Optional

import cv2
import mmengine
import torch
from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmpretrain.registry import HOOKS

from ..data.collate import unstack_inputs
from ..models.gradcam import compute_feature_cams, feature_score
from ..visualization.attention import overlay_panel, raw_to_bgr


def unwrap(model):
    return model.module if is_model_wrapper(model) else model


@HOOKS.register_module()
class GradCAMHook(Hook):
    """Writes Grad-CAM overlays (image | heat map | overlay) of the first query images of the val/test set.

    The score explained is class-free (query identities are not training classes): by default the sum of the
    positive elements of the model's ``mode='tensor'`` feature -- for CASN exactly its Siamese importance
    score. Validation runs under ``torch.no_grad``; the hook re-enables grad for its own pass, touches no
    parameter gradient and leaves the model in the mode it found it in.

    Files: ``{work_dir}/{out_dir}/epoch_{E}/`` (validation) or ``.../test/``, one PNG per image, plus
    ``visualizer.add_image('gradcam_{i}', ...)`` so every configured backend (TensorBoard) shows them (no '/'
    in the name: LocalVisBackend uses it as a file name).

    Args:
        target_layer (str, optional): dotted module name, e.g. ``'backbone.layer4'``; defaults to the model's
            ``cam_target_layer`` attribute (CASN has one).
        output_index (int): element of a tuple output of the target layer. Defaults to -1 (last stage).
        num_images (int): query images to explain. Defaults to 8.
        interval (int): every ``interval``-th validation run. Defaults to 1.
        score (str): ``'positive_sum'`` or ``'norm'`` of the feature.
        split_role (str, optional): only samples with this ``split_role`` (None: any). Defaults to 'query'.
        out_dir (str): folder under the work dir. Defaults to ``'gradcam'``.
        alpha (float): heat-map weight in the overlay.
        min_height (int): panels are enlarged to at least this height.
        on_val (bool) / on_test (bool): run after validation / test.
    """

    priority = 'LOW'

    def __init__(self, target_layer: Optional[str] = None, output_index: int = -1, num_images: int = 8,
                 interval: int = 1, score: str = 'positive_sum', split_role: Optional[str] = 'query',
                 out_dir: str = 'gradcam', alpha: float = 0.5, min_height: int = 256, on_val: bool = True,
                 on_test: bool = True):
        feature_score(torch.zeros(1, 1), score)  # validate early
        self.target_layer, self.output_index, self.score = target_layer, output_index, score
        self.num_images, self.interval, self.split_role = num_images, interval, split_role
        self.out_dir, self.alpha, self.min_height = out_dir, alpha, min_height
        self.on_val, self.on_test = on_val, on_test
        self._images: List[torch.Tensor] = []
        self._names: List[str] = []
        self._val_runs = 0

    # ------------------------------------------------------------------ collecting query images
    def _reset(self):
        self._images, self._names = [], []

    def _collect(self, data_batch):
        if data_batch is None or len(self._images) >= self.num_images:
            return
        inputs, samples = unstack_inputs(data_batch.get('inputs')), data_batch.get('data_samples') or []
        for pos, item in enumerate(inputs):
            img = item.get('img')  # unstack_inputs gives a dict per sample
            sample = samples[pos] if pos < len(samples) else None
            role = sample.metainfo.get('split_role') if sample is not None else None
            if img is None or (self.split_role and role is not None and role != self.split_role):
                continue
            self._images.append(img.detach().cpu().clone())
            path = sample.metainfo.get('img_path') if sample is not None else None
            self._names.append(osp.splitext(osp.basename(path))[0] if path else f'sample{len(self._images)}')
            if len(self._images) >= self.num_images:
                return

    def before_val_epoch(self, runner) -> None:
        self._val_runs += 1
        self._reset()

    def after_val_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if self.on_val and self._val_runs % self.interval == 0:
            self._collect(data_batch)

    def after_val_epoch(self, runner, metrics=None) -> None:
        if self.on_val and self._val_runs % self.interval == 0:
            self.draw(runner, f'epoch_{runner.epoch}', runner.epoch)

    def before_test_epoch(self, runner) -> None:
        self._reset()

    def after_test_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if self.on_test:
            self._collect(data_batch)

    def after_test_epoch(self, runner, metrics=None) -> None:
        if self.on_test:
            self.draw(runner, 'test', runner.epoch)

    # ------------------------------------------------------------------ drawing
    def draw(self, runner, tag: str, step: int) -> List[str]:
        """Compute the maps of the collected images and write the panels; returns the written paths."""
        images, names = self._images, self._names
        self._reset()
        # the model forward below is local (no collective op), so other ranks can simply skip it
        if not images or not is_main_process():
            return []
        maps = compute_feature_cams(unwrap(runner.model), images, self.target_layer, self.output_index,
                                    self.score)
        folder = osp.join(runner.work_dir, self.out_dir, tag)
        mmengine.mkdir_or_exist(folder)
        paths = []
        for i, (img, cam, name) in enumerate(zip(images, maps, names)):
            panel = overlay_panel(raw_to_bgr(img), cam, self.alpha, self.min_height)
            path = osp.join(folder, f'{i:02d}_{name}.png')
            cv2.imwrite(path, panel)
            paths.append(path)
            runner.visualizer.add_image(f'gradcam_{i:02d}', panel[..., ::-1].copy(), step=step)
        runner.logger.info(f'GradCAMHook: wrote {len(paths)} attention overlays to {folder}')
        return paths
