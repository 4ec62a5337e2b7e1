"""GradCAMHook writes viewable overlays for query images, under no_grad, for any model given a layer."""
import glob
import os.path as osp
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.visualization import Visualizer
from mmpretrain.registry import HOOKS, MODELS
from mmpretrain.structures import DataSample

import plugins  # noqa: F401
from plugins.core.visualization.attention import overlay_panel
from tests.helpers import demo_config


def _declares_cam_layer(cfg):
    return MODELS.get(cfg.model.type).cam_target_layer is not None


#: an image model that names its Grad-CAM layer itself (``cam_target_layer``) and one that does not (the hook
#: is given one); their demo configs' models on a small ResNet-18 (stride 8: a 6 x 2 map of the 48 x 16 images)
DECLARED = demo_config(text=False, where=_declares_cam_layer)
UNDECLARED = demo_config(text=False, where=lambda cfg: not _declares_cam_layer(cfg))
BACKBONE = dict(type='ResNet', depth=18, base_channels=16, stem_channels=16, strides=(1, 1, 2, 1))


def _model(config, **backbone):
    model_cfg = Config.fromfile(config).model
    model_cfg.update(num_classes=4, backbone=dict(BACKBONE, **backbone))
    return MODELS.build(model_cfg)


def _runner(model, tmp_path, name):
    vis = Visualizer.get_instance(name, vis_backends=[dict(type='LocalVisBackend')], save_dir=str(tmp_path / 'vis'))
    return SimpleNamespace(model=model, work_dir=str(tmp_path), visualizer=vis, epoch=3,
                           logger=MMLogger.get_instance(name))


def _val_batches(h=48, w=16):
    """Two batches of 4: alternate query / gallery samples with a bright 'person' box on a dark background."""
    batches = []
    for b in range(2):
        inputs, samples = [], []
        for i in range(4):
            img = torch.full((3, h, w), 20, dtype=torch.uint8)
            img[:, 8:40, 4:12] = torch.tensor([200, 60, 30], dtype=torch.uint8).view(3, 1, 1)
            inputs.append({'img': img})
            role = 'query' if i % 2 == 0 else 'gallery'
            samples.append(DataSample(metainfo=dict(split_role=role, img_path=f'/x/{b}_{i}_{role}.jpg'))
                           .set_gt_label(i))
        batches.append(dict(inputs=inputs, data_samples=samples))
    return batches


@pytest.mark.parametrize('config,target', [(DECLARED, None), (UNDECLARED, 'backbone.layer4')],
                         ids=['declared layer', 'given layer'])
def test_hook_writes_query_overlays_under_no_grad(tmp_path, config, target):
    torch.manual_seed(0)
    model = _model(config)
    model.eval()
    name = f'gradcam_hook_{type(model).__name__}'
    runner = _runner(model, tmp_path, name)
    hook = HOOKS.build(dict(type='GradCAMHook', target_layer=target, num_images=3))
    hook.before_val_epoch(runner)
    with torch.no_grad():  # as in mmengine's ValLoop.run_iter
        for i, batch in enumerate(_val_batches()):
            hook.after_val_iter(runner, i, batch, None)
    hook.after_val_epoch(runner, {})

    files = sorted(glob.glob(osp.join(str(tmp_path), 'gradcam', 'epoch_3', '*.png')))
    assert [osp.basename(f) for f in files] == ['00_0_0_query.png', '01_0_2_query.png', '02_1_0_query.png']
    panel = cv2.imread(files[0])
    assert panel.dtype == np.uint8 and panel.ndim == 3 and panel.shape[2] == 3
    assert panel.shape[0] >= 256 and panel.shape[1] == 3 * panel.shape[0] // 3  # three H x W panels
    h, w3 = panel.shape[:2]
    image, heat = panel[:, : w3 // 3], panel[:, w3 // 3: 2 * w3 // 3]
    assert image.min() == 20 and image.max() == 200  # the input, unnormalised
    assert heat.std() > 5  # a heat map with structure, not a flat colour
    assert all(p.grad is None for p in model.parameters())
    # the visualiser backend got the same pictures
    assert len(glob.glob(osp.join(str(tmp_path), 'vis', 'vis_data', 'vis_image', 'gradcam_*_3.png'))) == 3


def test_model_without_target_layer_is_named_in_the_error(tmp_path):
    model = _model(UNDECLARED, strides=(1, 2, 2, 2))
    runner = _runner(model, tmp_path, 'gradcam_hook_err')
    hook = HOOKS.build(dict(type='GradCAMHook', num_images=1))
    hook.before_test_epoch(runner)
    hook.after_test_iter(runner, 0, _val_batches()[0], None)
    with pytest.raises(ValueError, match='target_layer'):
        hook.after_test_epoch(runner, {})


def test_overlay_panel_layout():
    img = np.zeros((8, 4, 3), np.uint8)
    cam = np.zeros((8, 4))
    cam[2, 1] = 1.0
    panel = overlay_panel(img, cam, min_height=0)
    assert panel.shape == (8, 12, 3)
    assert np.array_equal(panel[:, :4], img)
    assert tuple(panel[2, 5]) == (0, 0, 128)  # JET at 1.0 is dark red (BGR)
    assert tuple(panel[0, 4]) == (128, 0, 0)  # JET at 0.0 is dark blue
    assert overlay_panel(img, cam, min_height=32).shape == (32, 48, 3)
