"""ReID evaluation: chunked distances, exact vectorised ranking metrics, evaluation protocols and the
``ReIDMetric`` (METRICS)."""
from .distance import compute_distance, iter_distance_chunks
from .multi_set_metric import MultiSetReIDMetric
from .protocols import REID_PROTOCOLS, RankingProblem, ReIDProtocol, build_protocol, select_sysu_gallery
from .rank import RankAccumulator, evaluate_features, evaluate_rank, ignored_gallery
from .query_expansion import average_query_expansion, database_augmentation
from .reid_metric import ReIDMetric
from .rerank import evaluate_re_ranked, iter_re_ranked, re_ranking

__all__ = ['compute_distance', 'iter_distance_chunks', 'RankAccumulator', 'evaluate_features', 'evaluate_rank',
           'ignored_gallery', 'ReIDMetric', 'MultiSetReIDMetric', 'select_sysu_gallery', 're_ranking', 'REID_PROTOCOLS',
           'RankingProblem', 'ReIDProtocol', 'build_protocol', 'evaluate_re_ranked', 'iter_re_ranked',
           'average_query_expansion', 'database_augmentation']
