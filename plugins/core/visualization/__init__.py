"""Pictures of ReID results: ranking grids (tools/search.py, tools/visualize_ranking.py) and attention-map panels
(GradCAMHook, tools/visualize_attention.py)."""
from .attention import heatmap, overlay_panel, raw_to_bgr
from .ranking import draw_ranking_grid, grid_shape, rows_per_picture, save_picture

__all__ = ['draw_ranking_grid', 'grid_shape', 'heatmap', 'overlay_panel', 'raw_to_bgr', 'rows_per_picture',
           'save_picture']
