"""Export the inference feature extractors of a ReID checkpoint to ONNX.

    python tools/export_onnx.py CONFIG CHECKPOINT [--out DIR] [--opset N] [--check] [--dynamo]

writes ``DIR/image.onnx`` (every method) and ``DIR/text.onnx`` (models with ``embed_text``). The image graph
takes a float (B, 3, H, W) image in 0-255, RGB (the data preprocessor's normalisation is folded in; a method's
own wrapper may add inputs, e.g. the modality of each image); the text graph takes int64 (B, L) token ids of the
config's test text pipeline, 0 = padding. Both give the (B, D) ``embed_image`` / ``embed_text`` features, the
``pred_feature`` of ``model.predict``. See docs/deployment.md.

Exporter: the TorchScript-based one (``torch.onnx.export(dynamo=False)``) by default -- every tower of every
method exports with it and matches PyTorch, in about a second each on CPU; ``--dynamo`` uses the
``torch.export``-based exporter (the default of torch >= 2.9), which gives the same graphs but takes 5-50 s
per tower here.

The optional packages are checked before anything is built: ``onnx`` always, ``onnxruntime`` with ``--check``,
``onnxscript`` with ``--dynamo`` (``pip install -e .[deploy]``, or the versions in requirements/deploy.txt).
The graphs are written to a temporary folder next to ``DIR`` and moved into it only when every tower exported:
a failed run leaves neither an empty nor a half-filled ``DIR``.
"""
import argparse
import importlib
import json
import os
import os.path as osp
import shutil
import sys
import tempfile

from mmengine.config import Config, DictAction

# `plugins` is imported only after the dependency check: importing it takes seconds (torch, mmpretrain, ...)
sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..')))

#: The pip extra that installs every optional package of the export (setup.cfg ``[options.extras_require]``).
DEPLOY_EXTRA = 'deploy'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Export the feature extractors of a ReID model to ONNX')
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', help='checkpoint file (its folder holds vocab.json for word-level models)')
    parser.add_argument('--out', help='output folder; default: work_dirs/<config name>/onnx')
    parser.add_argument('--opset', type=int, help='ONNX opset (default 17; 18 with --dynamo)')
    parser.add_argument('--check', action='store_true',
                        help='run onnxruntime on a random batch and print the max abs difference to PyTorch')
    parser.add_argument('--dynamo', action='store_true', help='use the torch.export-based exporter')
    parser.add_argument('--towers', nargs='+', choices=['image', 'text'], help='default: all the model has')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'),
                        help='image size; default: the Resize of the test pipeline')
    parser.add_argument('--text-length', type=int, help='token length; default: the test text pipeline\'s')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config settings, key=value')
    return parser.parse_args(argv)


def required_packages(args):
    """Optional packages this run imports: ``onnx`` (graph metadata), ``onnxruntime`` (``--check``) and
    ``onnxscript`` (the ``--dynamo`` exporter)."""
    return ['onnx'] + (['onnxruntime'] if args.check else []) + (['onnxscript'] if args.dynamo else [])


def check_dependencies(args):
    """Import each :func:`required_packages` before any work; a missing one is an ``ImportError`` naming it
    and the pip command that installs it."""
    missing = []
    for name in required_packages(args):
        try:
            importlib.import_module(name)
        except ImportError as err:
            missing.append(f'{name} ({err})')
    if missing:
        raise ImportError(f'export_onnx: missing optional package(s): {"; ".join(missing)}. Install the ONNX '
                          f'extra with `pip install -e ".[{DEPLOY_EXTRA}]"` (from the repository root) or `pip '
                          f'install onnx onnxruntime onnxscript` (versions: requirements/deploy.txt)')


def _first_missing_dir(path):
    """The outermost folder of ``path`` (itself included) that does not exist yet, or None."""
    path, missing = osp.abspath(path), None
    while not osp.exists(path):
        path, missing = osp.dirname(path), path
    return missing


def export_into(out_dir, export):
    """Run ``export(tmp_dir)`` in a temporary folder and copy what it wrote into ``out_dir`` (each file through
    :func:`~plugins.core.utils.atomic_write`) only when it succeeds; on any failure the folders made for the
    output go and the files of an earlier export stay as they were.

    Returns:
        list[str]: the names of the files written into ``out_dir``.
    """
    from plugins.core.utils import atomic_write
    created = _first_missing_dir(out_dir)
    try:
        # the system's temporary folder: a killed export leaves nothing in the user's output folder
        with tempfile.TemporaryDirectory() as tmp:
            export(tmp)
            names = sorted(os.listdir(tmp))
            for name in names:
                with open(osp.join(tmp, name), 'rb') as src, atomic_write(osp.join(out_dir, name), 'wb') as dst:
                    shutil.copyfileobj(src, dst)
        return names
    except BaseException:
        if created is not None:  # a folder this run made (out_dir or an ancestor): only its files are inside
            shutil.rmtree(created, ignore_errors=True)
        raise


def _find_transform(node, types):
    """First transform dict of one of ``types`` in a (nested) pipeline/dataset config, or None."""
    if isinstance(node, dict):
        if node.get('type') in types:
            return node
        children = node.values()
    elif isinstance(node, (list, tuple)):
        children = node
    else:
        return None
    for child in children:
        found = _find_transform(child, types)
        if found is not None:
            return found
    return None


def test_image_size(cfg):
    """``(H, W)`` of the test images: the ``Resize`` of the test image pipeline (mmcv scale is (W, H))."""
    dataset = cfg.test_dataloader.dataset
    resize = _find_transform(dataset.get('pipeline'), ('Resize', ))
    if resize is None or 'scale' not in resize:
        raise ValueError('export_onnx: no Resize(scale=...) in test_dataloader.dataset.pipeline; give --shape H W')
    scale = resize['scale']
    width, height = (scale, scale) if isinstance(scale, int) else scale
    return int(height), int(width)


def test_text_length(cfg):
    """Token length of the test captions (``CLIPTokenize.context_length`` / ``WordTokenize.max_length``)."""
    dataset = cfg.test_dataloader.dataset
    tokenize = _find_transform([dataset.get('text_pipeline'), dataset.get('pipeline')],
                               ('CLIPTokenize', 'WordTokenize'))
    if tokenize is None:
        return None
    if tokenize['type'] == 'CLIPTokenize':
        return int(tokenize.get('context_length', 77))
    return int(tokenize.get('max_length', 100))


def load_model(cfg, checkpoint):
    """The model of ``cfg`` with the checkpoint's weights, in eval mode (:func:`plugins.core.apis.load_model`:
    strict unless ``load_strict=False``, the word vocabulary from the checkpoint's folder)."""
    import plugins  # noqa: F401  (registers the models)
    from plugins.core.apis import load_model as load_offline
    model, _ = load_offline(cfg, checkpoint)
    return model


def main(argv=None):
    args = parse_args(argv)
    check_dependencies(args)
    from plugins.core.deploy.onnx_export import export_model
    from plugins.core.utils import atomic_write, merge_cfg_options
    cfg = Config.fromfile(args.config)
    merge_cfg_options(cfg, args.cfg_options)
    if cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    out_dir = args.out or osp.join(cfg.work_dir, 'onnx')
    image_size = tuple(args.shape) if args.shape else test_image_size(cfg)
    text_length = args.text_length or test_text_length(cfg)
    model = load_model(cfg, args.checkpoint)
    results = {}

    def export(tmp_dir):
        results.update(export_model(model, tmp_dir, image_size, text_length, opset=args.opset, dynamo=args.dynamo,
                                    check=args.check, towers=args.towers))

    export_into(out_dir, export)
    for res in results.values():  # the graphs now lie in out_dir
        res['file'] = osp.join(out_dir, osp.basename(res['file']))
    for tower, res in results.items():
        line = f'{tower}: {res["file"]} inputs={",".join(res["inputs"])} feature_dim={res["feature_dim"]}'
        if 'max_abs_diff' in res:
            line += f' max_abs_diff(onnxruntime vs PyTorch)={res["max_abs_diff"]:.3g}'
        print(line)
    summary = dict(config=args.config, checkpoint=args.checkpoint, image_size=list(image_size),
                   text_length=text_length, exporter='dynamo' if args.dynamo else 'torchscript', towers=results)
    with atomic_write(osp.join(out_dir, 'export.json'), 'w') as f:
        f.write(json.dumps(summary, indent=2))
    return results


if __name__ == '__main__':
    main()
