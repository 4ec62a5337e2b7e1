"""Demo data: small versions of the ReID data sets in their exact real on-disk layouts, with a learnable
identity signal (``python tools/make_demo_data.py ROOT`` is the command line)."""
from .generate import GENERATOR_VERSION, MARKER, make_dataset, make_demo_data
from .layouts import DATASETS

__all__ = ['DATASETS', 'GENERATOR_VERSION', 'MARKER', 'make_dataset', 'make_demo_data']
