"""Export the feature extractors of a ReID model to ONNX and check them with onnxruntime.

Used by ``tools/export_onnx.py``; see ``docs/deployment.md`` for the graphs' inputs and outputs.
"""
import io
import os.path as osp
import warnings
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn

from plugins.core.utils import atomic_write
from .feature_extractors import (ImageFeatureExtractor, TextFeatureExtractor, build_image_extractor,
                                 build_text_extractor, channel_order, has_text_tower)
from .static_pooling import static_adaptive_pooling

#: batch size of the traced example; the checks run another one, so a batch axis frozen at export shows up
EXPORT_BATCH = 2
CHECK_BATCH = 3


def default_opset(dynamo: bool) -> int:
    """17 for the TorchScript exporter; the ``torch.export`` one needs >= 18."""
    return 18 if dynamo else 17


def dynamic_axes(extractor: nn.Module) -> Dict[str, Dict[int, str]]:
    """Batch axis of every input and of the output dynamic; for a text tower also the token axis."""
    axes = {name: {0: 'batch'} for name in extractor.input_names + extractor.output_names}
    if isinstance(extractor, TextFeatureExtractor):
        axes['text'] = {0: 'batch', 1: 'length'}
    return axes


def to_onnx_bytes(extractor: nn.Module, inputs: Tuple[torch.Tensor, ...], opset: Optional[int] = None,
                  dynamo: bool = False) -> bytes:
    """Serialised ONNX model of ``extractor`` traced on ``inputs``.

    Args:
        extractor (nn.Module): an image or text feature extractor (in ``eval()``).
        inputs (tuple[Tensor]): example inputs (their batch size must not be 1, which exporters may fold).
        opset (int, optional): ONNX opset; :func:`default_opset` when None.
        dynamo (bool): the ``torch.export``-based exporter instead of the TorchScript one.
    """
    opset = opset or default_opset(dynamo)
    kwargs = dict(input_names=list(extractor.input_names), output_names=list(extractor.output_names),
                  dynamic_axes=dynamic_axes(extractor), opset_version=opset)
    with torch.no_grad(), static_adaptive_pooling(), warnings.catch_warnings():
        # expected and covered by the onnxruntime checks: the tracer's notes on shape checks turned into
        # constants, the TorchScript exporter's deprecation notice, the LSTM note on other batch sizes
        warnings.simplefilter('ignore', torch.jit.TracerWarning)
        warnings.filterwarnings('ignore', message='.*(legacy TorchScript-based ONNX export|feature will be '
                                'removed|variable length with LSTM|dynamic_axes.*not recommended|aten::index operator '
                                'of advanced indexing).*')
        if dynamo:
            program = torch.onnx.export(extractor, inputs, dynamo=True, verbose=False, **kwargs)
            return program.model_proto.SerializeToString()
        buffer = io.BytesIO()
        torch.onnx.export(extractor, inputs, buffer, dynamo=False, do_constant_folding=True, **kwargs)
        return buffer.getvalue()


def add_metadata(data: bytes, metadata: Dict[str, str]) -> bytes:
    """Store ``metadata`` as the model's ``metadata_props`` (readable with onnxruntime's ``get_modelmeta``)."""
    import onnx
    proto = onnx.load_from_string(data)
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, str(value)
    return proto.SerializeToString()


def run_onnxruntime(model_file: str, inputs: Sequence[torch.Tensor], input_names: Sequence[str]) -> np.ndarray:
    """Output of the ONNX graph in ``model_file`` on ``inputs`` (CPU execution provider)."""
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.log_severity_level = 3  # keep the check's output to the numbers
    session = ort.InferenceSession(model_file, options, providers=['CPUExecutionProvider'])
    return session.run(None, {name: x.numpy() for name, x in zip(input_names, inputs)})[0]


def max_abs_diff(model_file: str, extractor: nn.Module, inputs: Sequence[torch.Tensor]) -> float:
    """Largest absolute difference between onnxruntime and PyTorch features on ``inputs``."""
    with torch.no_grad():
        expected = extractor(*inputs).numpy()
    actual = run_onnxruntime(model_file, inputs, extractor.input_names)
    if actual.shape != expected.shape:
        raise AssertionError(f'{model_file}: onnxruntime output shape {actual.shape} != PyTorch {expected.shape}')
    return float(np.abs(actual - expected).max())


def _metadata(model: nn.Module, extractor: nn.Module, tower: str, shape: Tuple[int, ...]) -> Dict[str, str]:
    meta = dict(reid_model=type(model).__name__, tower=tower, inputs=','.join(extractor.input_names),
                feature='the pred_feature of model.predict')
    if tower == 'image':
        norm = extractor.normalize
        meta.update(image_height=shape[0], image_width=shape[1], input_range='0-255',
                    channel_order=channel_order(model), normalisation='folded in' if norm.enabled else 'none')
        if norm.enabled:
            meta.update(mean=','.join(f'{v:g}' for v in norm.mean.flatten().tolist()),
                        std=','.join(f'{v:g}' for v in norm.std.flatten().tolist()))
    else:
        meta.update(max_length=shape[0], padding_id=0)
    return meta


def export_tower(model: nn.Module, tower: str, out_file: str, shape: Tuple[int, ...], opset: Optional[int] = None,
                 dynamo: bool = False, check: bool = False) -> Dict[str, object]:
    """Export one tower of ``model`` to ``out_file`` (written atomically: temporary file + rename).

    Args:
        model (nn.Module): the ReID model (weights loaded).
        tower (str): ``'image'`` or ``'text'``.
        out_file (str): the ``.onnx`` file.
        shape (tuple[int]): image ``(H, W)`` (fixed in the graph) or the text length ``(L, )`` of the example
            (the length axis stays dynamic).
        opset (int, optional): ONNX opset.
        dynamo (bool): use the ``torch.export``-based exporter.
        check (bool): compare onnxruntime with PyTorch on a random batch of another batch size.

    Returns:
        dict: ``file``, ``tower``, ``inputs``, ``feature_dim`` and, with ``check``, ``max_abs_diff``.
    """
    if tower == 'image':
        extractor: nn.Module = build_image_extractor(model)
        example = extractor.example_inputs(EXPORT_BATCH, *shape)
    elif tower == 'text':
        extractor = build_text_extractor(model)
        example = extractor.example_inputs(EXPORT_BATCH, *shape)
    else:
        raise ValueError(f"tower must be 'image' or 'text', got {tower!r}")
    data = to_onnx_bytes(extractor, example, opset, dynamo)
    try:
        data = add_metadata(data, _metadata(model, extractor, tower, shape))
    except ImportError:  # the graph itself does not need the onnx package
        pass
    with atomic_write(out_file, 'wb') as f:
        f.write(data)
    with torch.no_grad():
        feature_dim = extractor(*example).shape[1]
    result = dict(file=out_file, tower=tower, inputs=list(extractor.input_names), feature_dim=int(feature_dim))
    if check:
        result['max_abs_diff'] = max_abs_diff(out_file, extractor, check_inputs(extractor, shape))
    return result


def check_inputs(extractor: nn.Module, shape: Tuple[int, ...]) -> Tuple[torch.Tensor, ...]:
    """Random inputs of another batch size than the export (and, for text, a shorter length)."""
    torch.manual_seed(0)
    if isinstance(extractor, ImageFeatureExtractor):
        return extractor.example_inputs(CHECK_BATCH, *shape)
    return extractor.example_inputs(CHECK_BATCH, max(shape[0] - 3, 2))


def export_model(model: nn.Module, out_dir: str, image_size: Tuple[int, int], text_length: Optional[int] = None,
                 opset: Optional[int] = None, dynamo: bool = False, check: bool = False,
                 towers: Optional[Sequence[str]] = None) -> Dict[str, Dict[str, object]]:
    """Export every tower of ``model``: ``<out_dir>/image.onnx`` and, for text-image models, ``text.onnx``.

    Args:
        model (nn.Module): the ReID model (weights loaded).
        out_dir (str): output folder.
        image_size (tuple[int, int]): ``(H, W)`` of the test images.
        text_length (int, optional): token length of the test captions (needed for a text tower).
        towers (Sequence[str], optional): subset of ``('image', 'text')``; default all the model has.

    Returns:
        dict: tower name -> the result of :func:`export_tower`.
    """
    towers = towers or (('image', 'text') if has_text_tower(model) else ('image', ))
    results = {}
    for tower in towers:
        if tower == 'text' and text_length is None:
            raise ValueError('export_model: text_length is needed to export the text tower')
        shape = tuple(image_size) if tower == 'image' else (text_length, )
        results[tower] = export_tower(model, tower, osp.join(out_dir, f'{tower}.onnx'), shape, opset, dynamo, check)
    return results
