"""Inference outside the test loop: feature extraction and gallery search."""
from .gallery_index import GalleryIndex, faiss_available
from .inferencer import ReIDInferencer

__all__ = ['GalleryIndex', 'ReIDInferencer', 'faiss_available']
