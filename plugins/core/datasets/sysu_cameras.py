"""SYSU-MM01 cameras, defined once for the parser, the evaluation protocol and the ranking rules.

Official camera names are 1-based (``cam1`` ... ``cam6``); the data contract stores 0-based ``camid``
(``cam1`` -> 0), so the evaluation side uses the ``*_CAMS`` tuples below.
"""
#: visible (RGB) and infrared cameras, official 1-based names
VISIBLE_CAMERAS = (1, 2, 4, 5)
INFRARED_CAMERAS = (3, 6)
#: visible cameras of the official search modes, in the official gallery order
SEARCH_MODE_CAMERAS = dict(all=VISIBLE_CAMERAS, indoor=(1, 2))

#: 0-based camids of the infrared query cameras and of the gallery cameras per search mode
SYSU_QUERY_CAMS = tuple(cam - 1 for cam in INFRARED_CAMERAS)
SYSU_GALLERY_CAMS = {mode: tuple(cam - 1 for cam in cams) for mode, cams in SEARCH_MODE_CAMERAS.items()}
#: official ranking rule (``eval_sysu``): a query of camera 3 ignores every gallery image of camera 2
SYSU_QUERY_CAM3 = 3 - 1
SYSU_GALLERY_CAM2 = 2 - 1
