"""ONNX export of every method's feature extractors (plugins/core/deploy, tools/export_onnx.py).

The demo configs' tiny models, randomly initialised: each tower is exported, run with onnxruntime on a batch
of another size (and, for text, another length) and compared with PyTorch; each export-friendly wrapper is
compared with the model's own ``predict`` on the preprocessor's path (BGR input, flipped and normalised).
"""
import json
import os
import os.path as osp

import pytest
import torch
import torch.nn.functional as F

pytest.importorskip('onnx', reason='ONNX export tests need `pip install onnx onnxruntime`')
pytest.importorskip('onnxruntime', reason='ONNX export tests need `pip install onnx onnxruntime`')

from mmengine.config import Config  # noqa: E402
from mmengine.runner import save_checkpoint  # noqa: E402
from mmpretrain.registry import MODELS  # noqa: E402
from mmpretrain.structures import DataSample  # noqa: E402

import plugins  # noqa: F401,E402
from plugins.core.data.tokenizers.word_vocabulary import WordVocabulary  # noqa: E402
from plugins.core.deploy import build_image_extractor, build_text_extractor  # noqa: E402
from plugins.core.deploy.onnx_export import export_model, run_onnxruntime  # noqa: E402
from plugins.core.deploy.static_pooling import static_adaptive_pool2d, static_adaptive_pooling  # noqa: E402
from plugins.core.metafile import DEFAULT_IMAGE_EXTRACTOR, DEFAULT_TEXT_EXTRACTOR, load_model_index  # noqa: E402
from tests.helpers import REPO, demo_configs, load_tool  # noqa: E402

#: one demo per method (the demo of its benchmark model) and what its metafile says about its export
#: (configs/<method>/metafile.yml: ``Modalities``, ``Export``)
METHODS = {method.name: method for method in load_model_index(REPO)}
DEMO_CONFIGS = {name: method.benchmark_model.demo.config for name, method in METHODS.items()}
TEXT_METHODS = sorted(name for name, method in METHODS.items() if method.has_text)
IMAGE_ONLY = sorted(name for name, method in METHODS.items() if not method.has_text)
#: the methods whose captions go through a word vocabulary (a WordVocabularyHook builds it, next to the checkpoints)
WORD_VOCABULARY = [name for name, config in DEMO_CONFIGS.items()
                   if osp.join(REPO, config) in demo_configs(hook='WordVocabularyHook')]
VOCAB_SIZE = 60
TOLERANCE = 1e-4
_MODELS = {}


def demo_cfg(method):
    cfg = Config.fromfile(osp.join(REPO, DEMO_CONFIGS[method]))
    if 'vocab_size' in cfg.model:  # the demo configs' value (all 60 ids of the demo captions)
        cfg.model.vocab_size = VOCAB_SIZE
    return cfg


def demo_model(method):
    """The demo config's model, random weights (one instance per method for the whole module)."""
    if method not in _MODELS:
        torch.manual_seed(0)
        model = MODELS.build(demo_cfg(method).model)
        model.init_weights()
        if hasattr(model, 'part_matching'):  # a non-trivial M-hat, so that the visible parts' reordering is exercised
            model.part_matching.copy_(torch.roll(model.part_matching, 1))
        _MODELS[method] = model.eval()
    return _MODELS[method]


def image_size(method):
    return load_tool('export_onnx').test_image_size(demo_cfg(method))


@pytest.mark.parametrize('method', list(DEMO_CONFIGS))
def test_export_matches_pytorch(method, tmp_path):
    tool = load_tool('export_onnx')
    cfg = demo_cfg(method)
    results = export_model(demo_model(method), str(tmp_path), tool.test_image_size(cfg), tool.test_text_length(cfg),
                           check=True)
    expected = ['image', 'text'] if METHODS[method].has_text else ['image']
    assert sorted(results) == expected
    for tower, res in results.items():
        assert res['max_abs_diff'] < TOLERANCE, (method, tower, res['max_abs_diff'])
    assert results['image']['inputs'] == list(METHODS[method].export.image_inputs)
    # written atomically: no temporary file left next to the graphs
    assert sorted(os.listdir(tmp_path)) == sorted(f'{t}.onnx' for t in expected)


def _predict(model, inputs, samples):
    data = model.data_preprocessor(dict(inputs=inputs, data_samples=samples))
    with torch.no_grad():
        out = model(data['inputs'], data['data_samples'], mode='predict')
    return torch.stack([s.pred_feature for s in out])


@pytest.mark.parametrize('method', list(DEMO_CONFIGS))
def test_image_extractor_equals_predict(method):
    """The wrapper on an RGB 0-255 image = ``predict`` on the same image loaded BGR (as mmcv does)."""
    model = demo_model(method)
    extractor = build_image_extractor(model)
    rgb, *extra = extractor.example_inputs(4, *image_size(method))
    samples = [DataSample() for _ in range(4)]
    if 'infrared' in METHODS[method].modalities:  # the second graph input is the modality
        for s, infrared in zip(samples, extra[0].tolist()):
            s.set_metainfo(dict(modality='infrared' if infrared else 'visible'))
    expected = _predict(model, [{'img': img.flip(0)} for img in rgb], samples)
    with torch.no_grad():
        actual = extractor(rgb, *extra)
    torch.testing.assert_close(actual, expected, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize('method', TEXT_METHODS)
def test_text_extractor_equals_predict(method):
    """Captions of every length (a single word, a full one) and an empty one, as ``predict`` embeds them."""
    model = demo_model(method)
    extractor = build_text_extractor(model)
    (ids, ) = extractor.example_inputs(5, 12)
    if 'vocab_size' in demo_cfg(method).model:  # word ids: one single-word caption and an empty one
        ids[1, 1:] = 0
        ids[2] = 0
    expected = _predict(model, [{'text': row} for row in ids], [DataSample() for _ in ids])
    with torch.no_grad():
        actual = extractor(ids)
    torch.testing.assert_close(actual, expected, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize('method', IMAGE_ONLY)
def test_image_only_model_has_no_text_tower(method):
    with pytest.raises(ValueError, match=f'{type(demo_model(method)).__name__} has no text tower .it does not '
                                         'implement embed_text'):
        build_text_extractor(demo_model(method))


def test_unknown_model_is_refused():
    with pytest.raises(TypeError, match='Linear is not a ReID model: export needs its `embed_image`'):
        build_image_extractor(torch.nn.Linear(2, 2))


def dotted(obj):
    return f'{type(obj).__module__}.{type(obj).__name__}'


@pytest.mark.parametrize('method', list(DEMO_CONFIGS))
def test_a_method_brings_its_own_wrapper_from_its_package(method):
    """The generic wrappers unless the model class names its own, defined in the method's package: the classes
    the method's metafile states (``Export``: ``Image Extractor`` / ``Text Extractor``)."""
    model, export = demo_model(method), METHODS[method].export
    built = [(export.image_extractor, build_image_extractor(model))]
    if METHODS[method].has_text:
        built.append((export.text_extractor or DEFAULT_TEXT_EXTRACTOR, build_text_extractor(model)))
    package = type(model).__module__.rsplit('.', 1)[0] + '.'
    for expected, wrapper in built:
        cls = getattr(type(wrapper), 'unflipped_class', None) or type(wrapper)  # a test_flip model's: its subclass
        assert f'{cls.__module__}.{cls.__name__}' == expected
        assert expected in (DEFAULT_IMAGE_EXTRACTOR, DEFAULT_TEXT_EXTRACTOR) or expected.startswith(package)


@pytest.mark.parametrize('size,out', [((8, 4), (6, 1)), ((7, 5), (3, 2)), ((8, 4), (4, 1))])
def test_static_adaptive_pooling_equals_pytorch(size, out):
    x = torch.randn(2, 3, *size)
    torch.testing.assert_close(static_adaptive_pool2d(x, out, 'mean'), F.adaptive_avg_pool2d(x, out))
    torch.testing.assert_close(static_adaptive_pool2d(x, out, 'amax'), F.adaptive_max_pool2d(x, out))
    original = F.adaptive_max_pool2d
    with static_adaptive_pooling():
        assert F.adaptive_max_pool2d is not original
    assert F.adaptive_max_pool2d is original


@pytest.mark.parametrize('method', WORD_VOCABULARY)
def test_cli_exports_a_word_vocabulary_checkpoint(method, tmp_path, capsys):
    """tools/export_onnx.py on a word-vocabulary model: vocabulary read next to the checkpoint, --check printed,
    metadata set."""
    import onnx
    ckpt_dir = tmp_path / 'work'
    WordVocabulary([f'w{i}' for i in range(VOCAB_SIZE - 2)]).save(str(ckpt_dir / 'vocab.json'))
    ckpt = ckpt_dir / 'epoch_1.pth'
    save_checkpoint(dict(state_dict=demo_model(method).state_dict(), meta=dict()), str(ckpt))
    out = tmp_path / 'onnx'
    config = osp.join(REPO, DEMO_CONFIGS[method])
    text_length = load_tool('export_onnx').test_text_length(demo_cfg(method))
    load_tool('export_onnx').main([config, str(ckpt), '--out', str(out), '--check'])
    printed = capsys.readouterr().out
    for tower in ('image', 'text'):
        line = next(ln for ln in printed.splitlines() if ln.startswith(f'{tower}:'))
        assert float(line.rsplit('=', 1)[1]) < TOLERANCE, line
    summary = json.loads((out / 'export.json').read_text())
    umask = os.umask(0)
    os.umask(umask)
    assert (out / 'image.onnx').stat().st_mode & 0o777 == 0o666 & ~umask  # not the temporary file's 0600
    assert summary['image_size'] == list(image_size(method)) and summary['text_length'] == text_length
    meta = {p.key: p.value for p in onnx.load(str(out / 'image.onnx')).metadata_props}
    assert meta['channel_order'] == 'RGB' and meta['input_range'] == '0-255' and meta['mean'].startswith('123.675')
    # the checkpoint's weights were loaded: the exported graph reproduces the saved model
    (ids, ) = build_text_extractor(demo_model(method)).example_inputs(3, text_length)
    with torch.no_grad():
        expected = build_text_extractor(demo_model(method))(ids).numpy()
    actual = run_onnxruntime(str(out / 'text.onnx'), [ids], ['text'])
    assert abs(actual - expected).max() < TOLERANCE


def image_graph_size(method):
    """Module calls of one image-tower pass (a measure of the size of its exported graph)."""
    extractor = build_image_extractor(demo_model(method))
    calls = []
    leaves = [m for m in extractor.modules() if not list(m.children())]
    handles = [m.register_forward_hook(lambda *_: calls.append(1)) for m in leaves]
    try:
        with torch.no_grad():
            extractor(*extractor.example_inputs(2, *image_size(method)))
    finally:
        for handle in handles:
            handle.remove()
    return len(calls)


def test_dynamo_exporter(tmp_path):
    """The torch.export-based exporter (``--dynamo``) on the smallest image graph (slower: 5-10 s)."""
    method = min(DEMO_CONFIGS, key=image_graph_size)
    results = export_model(demo_model(method), str(tmp_path), image_size(method), dynamo=True, check=True,
                           towers=['image'])
    assert results['image']['max_abs_diff'] < TOLERANCE
