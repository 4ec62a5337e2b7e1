"""ReID evaluation: chunked distances, exact vectorised ranking metrics and the ``ReIDMetric`` (METRICS)."""
from .distance import compute_distance, iter_distance_chunks
from .rank import RankAccumulator, evaluate_features, evaluate_rank
from .reid_metric import ReIDMetric, select_sysu_gallery
from .rerank import re_ranking

__all__ = ['compute_distance', 'iter_distance_chunks', 'RankAccumulator', 'evaluate_features', 'evaluate_rank',
           'ReIDMetric', 'select_sysu_gallery', 're_ranking']
