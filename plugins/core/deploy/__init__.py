"""Deployment helpers: export-ready feature extractors (see ``docs/deployment.md`` and ``tools/export_onnx.py``).

Not imported by ``plugins.core``: only the export tool and its tests need it.
"""
from .feature_extractors import (EXTRACTORS, ImageFeatureExtractor, TextFeatureExtractor, build_image_extractor,
                                 build_text_extractor, channel_order, has_text_tower)

__all__ = ['EXTRACTORS', 'ImageFeatureExtractor', 'TextFeatureExtractor', 'build_image_extractor',
           'build_text_extractor', 'channel_order', 'has_text_tower']
