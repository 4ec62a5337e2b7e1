"""Acceptance test of the model contract: a sixth method that exists only in tests/ (``toy_reid.py``, imported
through the config's ``custom_imports``; the config is written here) goes through tools/train.py, tools/test.py,
ReIDInferencer, tools/export_onnx.py --check and the benchmark's training section, with nothing in
plugins/core/ or tools/ that knows it."""
import json
import os.path as osp

import pytest
import torch

from plugins.core.apis import ReIDInferencer
from tests.helpers import REPO, load_tool, make_demo_data, read_scalars, run_tool
from tests.toy_method.toy_reid import write_toy_config

TRAIN, TEST, EXPORT = (osp.join(REPO, 'tools', f'{name}.py') for name in ('train', 'test', 'export_onnx'))


@pytest.mark.slow
def test_a_sixth_method_runs_through_every_tool(tmp_path):
    demo = tmp_path / 'demo'
    make_demo_data(demo, 'market1501')
    config = write_toy_config(tmp_path / 'toy_reid_market1501.py', demo / 'market1501')

    work_dir = tmp_path / 'work'
    run_tool(tmp_path, TRAIN, config, '--work-dir', work_dir)
    ckpt = work_dir / 'epoch_1.pth'
    metrics_file = tmp_path / 'metrics.json'
    run_tool(tmp_path, TEST, config, ckpt, '--work-dir', tmp_path / 'test', '--out', metrics_file)
    logged = [r for r in read_scalars(work_dir) if 'R1' in r][-1]
    tested = json.loads(metrics_file.read_text())
    for key in ('R1', 'mAP', 'mINP'):  # the checkpoint reproduces the validation of the training run
        assert tested[key] == pytest.approx(logged[key], abs=1e-3)

    # the inferencer's embed_image path gives the test loop's pred_feature (predict) for the same images
    inferencer = ReIDInferencer(str(config), str(ckpt))
    assert type(inferencer.model).__name__ == 'ToyReID' and not inferencer.model.has_text_tower
    records = inferencer.extract_test_set()[:6]
    feats = inferencer.extract_images([r['img_path'] for r in records], batch_size=4)
    assert feats.shape == (6, 32)
    torch.testing.assert_close(feats, torch.stack([r['feature'] for r in records]), atol=1e-5, rtol=1e-5)

    out = run_tool(tmp_path, EXPORT, config, ckpt, '--out', tmp_path / 'onnx', '--check').stdout
    (line, ) = [ln for ln in out.splitlines() if ln.startswith('image:')]
    assert 'inputs=image feature_dim=32' in line and float(line.rsplit('=', 1)[1]) < 1e-4
    assert not (tmp_path / 'onnx' / 'text.onnx').exists()

    report = load_tool('benchmark').main(['--quick', '--sections', 'train', '--train-configs', f'{config}:2.0',
                                          '--demo-root', str(demo)])
    (row, ) = [ln for ln in report.splitlines() if ln.startswith('| ToyReID')]
    cells = [c.strip() for c in row.strip('|').split('|')]
    assert cells[:2] == ['ToyReID (`toy_reid_market1501.py`)', '`embed_image` on img'] and cells[5] == '<= 2.0'
    reference, step = float(cells[2]), float(cells[3])
    assert 0 < reference and 0 < step  # the ratio is of the unrounded times
    assert float(cells[4].strip('*')) == pytest.approx(step / reference, abs=0.01 + 2e-3 / reference)
