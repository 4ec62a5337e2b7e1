from .cross_entropy_label_smooth import CrossEntropyLabelSmoothLoss
from .triplet import TripletLoss, euclidean_dist

__all__ = ['CrossEntropyLabelSmoothLoss', 'TripletLoss', 'euclidean_dist']
