"""Inference outside the test loop: feature extraction and gallery search."""
from .gallery_index import GalleryIndex, faiss_available
from .inferencer import ReIDInferencer
from .loading import load_config, load_model

__all__ = ['GalleryIndex', 'ReIDInferencer', 'faiss_available', 'load_config', 'load_model']
