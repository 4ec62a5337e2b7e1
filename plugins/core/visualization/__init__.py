"""Pictures of ReID results (ranking grids); used by tools/search.py and tools/visualize_ranking.py."""
from .ranking import draw_ranking_grid, grid_shape, rows_per_picture, save_picture

__all__ = ['draw_ranking_grid', 'grid_shape', 'rows_per_picture', 'save_picture']
