"""Deployment helpers: export-ready feature extractors (see ``docs/deployment.md`` and ``tools/export_onnx.py``).

Not imported by ``plugins.core`` itself; ``feature_extractors`` needs only torch, so the method packages whose
towers need an export-friendly wrapper subclass its extractors (``onnx`` is imported only to export).
"""
from .feature_extractors import (ImageFeatureExtractor, TextFeatureExtractor, build_image_extractor,
                                 build_text_extractor, channel_order, has_text_tower)

__all__ = ['ImageFeatureExtractor', 'TextFeatureExtractor', 'build_image_extractor',
           'build_text_extractor', 'channel_order', 'has_text_tower']
