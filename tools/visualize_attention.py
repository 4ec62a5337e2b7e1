#!/usr/bin/env python
"""Grad-CAM attention of a trained ReID model for chosen images, and for query-gallery pairs.

Usage::

    python tools/visualize_attention.py CONFIG CHECKPOINT --images a.jpg b.jpg --out DIR
    python tools/visualize_attention.py CONFIG CHECKPOINT --pair QUERY.jpg GALLERY.jpg --out DIR
        [--target-layer backbone.layer4] [--score positive_sum|norm] [--threshold 0.5] [--device cpu]
        [--cfg-options KEY=VALUE ...]

For every ``--images`` file, ``DIR/<name>_gradcam.png`` = image | heat map | overlay. For every ``--pair``,
``DIR/pair_<query>__<gallery>.png`` shows the two overlays side by side with their attention-consistency
distance ||M_m1^resize - M_m2^resize||_2 (the config's Siamese attention loss ``model.loss_sa``, e.g. CASN's:
maps thresholded at ``--threshold``, cropped to the kept box and resized to one size), also written to
``DIR/pairs.json``; with several pairs, ``DIR/pairs_grid.png`` stacks them (one row per pair).

Images go through the config's test pipeline (resize, packing) and the model's data preprocessor, so the map
is the one the model computes at test time. The explained score is class-free: by default the sum of the
positive elements of the model's test feature (``mode='tensor'``) -- CASN's Siamese importance score.
The target layer defaults to the model's ``cam_target_layer`` (CASN: its backbone's last stage).
"""
import argparse
import json
import os
import os.path as osp
import sys


sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..')))

from mmengine.config import Config, DictAction  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Grad-CAM attention maps of a ReID model')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--images', nargs='+', default=[], help='image files to explain')
    parser.add_argument('--pair', nargs=2, action='append', default=[], metavar=('QUERY', 'GALLERY'),
                        help='a query-gallery pair (repeatable)')
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument('--target-layer', default=None, help='dotted module name (default: model.cam_target_layer)')
    parser.add_argument('--output-index', type=int, default=-1, help='element of a tuple-valued layer output')
    parser.add_argument('--score', default='positive_sum', choices=['positive_sum', 'norm'])
    parser.add_argument('--threshold', type=float, default=None,
                        help='attention threshold t of the pair distance (default: the config\'s loss_sa, else 0.5)')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value (load_strict=False: load a checkpoint partially)')
    args = parser.parse_args(argv)
    if not args.images and not args.pair:
        parser.error('give --images and/or --pair')
    return args


if __name__ == '__main__':
    parse_args()  # --help and usage errors answer here, before torch and the plugin are imported

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import plugins  # noqa: E402,F401  (registers everything; the config's custom_imports apply the mmengine patches)
from mmengine.dataset import Compose  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from mmpretrain.registry import MODELS  # noqa: E402
from plugins.core.models.gradcam import compute_feature_cams  # noqa: E402
from plugins.core.utils import merge_cfg_options  # noqa: E402
from plugins.core.visualization.attention import overlay_panel, raw_to_bgr  # noqa: E402
from plugins.core.apis import load_model  # noqa: E402


def build_model(cfg, checkpoint, device):
    """Model from the config with the checkpoint's weights (:func:`plugins.core.apis.load_model`: what the config's
    hooks prepare outside a Runner, strict unless the config says ``load_strict=False``); ``cfg`` is updated with
    the prepared config."""
    model, prepared = load_model(cfg, checkpoint, device)
    cfg.merge_from_dict(prepared.to_dict())
    return model


def load_images(cfg, paths):
    """Raw uint8 (3, H, W) tensors after the config's test pipeline (as in the test loop)."""
    pipeline_cfg = (cfg.get('test_dataloader') or cfg.val_dataloader).dataset.pipeline
    pipeline = Compose(pipeline_cfg)
    images = []
    for path in paths:
        if not osp.isfile(path):
            raise FileNotFoundError(f'visualize_attention: image not found: {path}')
        packed = pipeline(dict(img_path=path, gt_label=-1, camid=-1, modality='image', split_role='query'))
        images.append(packed['inputs']['img'])
    return images


def label(panel, text):
    """Write ``text`` on a white strip under ``panel``."""
    strip = np.full((28, panel.shape[1], 3), 255, np.uint8)
    cv2.putText(strip, text, (4, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([panel, strip], axis=0)


def pair_panel(q_img, q_cam, g_img, g_cam, distance):
    """Query overlay | gallery overlay, each ``image | heat map | overlay``, with the distance below."""
    q = overlay_panel(raw_to_bgr(q_img), q_cam)
    g = overlay_panel(raw_to_bgr(g_img), g_cam)
    if q.shape[0] != g.shape[0]:
        g = cv2.resize(g, (int(g.shape[1] * q.shape[0] / g.shape[0]), q.shape[0]))
    gap = np.full((q.shape[0], 12, 3), 255, np.uint8)
    return label(np.concatenate([q, gap, g], axis=1), f'query | gallery   attention distance {distance:.3f}')


def name_of(path):
    return osp.splitext(osp.basename(path))[0]


def pair_consistency(cfg, threshold=None):
    """The config's Siamese attention loss (``model.loss_sa``, built through the registry), whose
    ``pair_distances`` is the attention-consistency distance of ``--pair``; ``threshold`` overrides its own."""
    loss_sa = dict(cfg.model.get('loss_sa') or {})
    loss_cls = MODELS.get(loss_sa['type']) if loss_sa.get('type') else None
    if not callable(getattr(loss_cls, 'pair_distances', None)):
        raise ValueError(f'visualize_attention: --pair measures the attention consistency of the config\'s '
                         f'`model.loss_sa` (a Siamese attention loss with `pair_distances`), which '
                         f'{cfg.filename or "this config"} does not have ({loss_sa or "none"})')
    if threshold is not None:
        loss_sa['threshold'] = threshold
    return MODELS.build(loss_sa)


def main(argv=None):
    args = parse_args(argv)
    cfg = merge_cfg_options(Config.fromfile(args.config), args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    model = build_model(cfg, args.checkpoint, args.device)
    os.makedirs(args.out, exist_ok=True)
    written = []

    if args.images:
        images = load_images(cfg, args.images)
        maps = compute_feature_cams(model, images, args.target_layer, args.output_index, args.score)
        for path, img, cam in zip(args.images, images, maps):
            out = osp.join(args.out, f'{name_of(path)}_gradcam.png')
            cv2.imwrite(out, overlay_panel(raw_to_bgr(img), cam))
            written.append(out)

    if args.pair:
        consistency = pair_consistency(cfg, args.threshold)
        records, panels = [], []
        for query, gallery in args.pair:
            q_img, g_img = load_images(cfg, [query, gallery])
            # one image per pass: the maps do not depend on the other image of the pair
            q_cam, g_cam = (compute_feature_cams(model, [im], args.target_layer, args.output_index,
                                                 args.score)[0] for im in (q_img, g_img))
            distance = float(consistency.pair_distances(torch.from_numpy(q_cam)[None],
                                                        torch.from_numpy(g_cam)[None])[0])
            out = osp.join(args.out, f'pair_{name_of(query)}__{name_of(gallery)}.png')
            panels.append(pair_panel(q_img, q_cam, g_img, g_cam, distance))
            cv2.imwrite(out, panels[-1])
            written.append(out)
            records.append(dict(query=query, gallery=gallery, attention_distance=distance,
                                threshold=consistency.threshold,
                                image=out))
            print(f'{name_of(query)} vs {name_of(gallery)}: attention distance {distance:.4f}')
        with open(osp.join(args.out, 'pairs.json'), 'w') as f:
            json.dump(records, f, indent=2)
        if len(panels) > 1:  # all pairs in one picture, one row each
            width = max(p.shape[1] for p in panels)
            rows = [np.pad(p, ((0, 6), (0, width - p.shape[1]), (0, 0)), constant_values=255) for p in panels]
            out = osp.join(args.out, 'pairs_grid.png')
            cv2.imwrite(out, np.concatenate(rows, axis=0))
            written.append(out)

    for path in written:
        print(f'wrote {path}')
    return written


if __name__ == '__main__':
    main()
