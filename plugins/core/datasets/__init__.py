"""ReID data sets parsing the real on-disk layouts into the data_info dicts of ``docs/data_contract.md``."""
from .base import ReIDBaseDataset
from .combined import CombinedReIDDataset
from .cuhk03 import CUHK03NP
from .cuhk_pedes import CUHKPEDES
from .custom import CustomReIDDataset, CustomTextImageDataset
from .dukemtmc import DukeMTMCReID
from .icfg_pedes import ICFGPEDES
from .layout_check import check_data_layouts
from .llcm import LLCM
from .market1501 import Market1501
from .msmt17 import MSMT17
from .regdb import RegDB
from .rstpreid import RSTPReid
from .sysu_mm01 import SYSUMM01
from .text_image import TextImageDataset
from .torchreid_bridge import TorchreidDataset

__all__ = ['ReIDBaseDataset', 'TextImageDataset', 'Market1501', 'DukeMTMCReID', 'CUHK03NP', 'SYSUMM01', 'RegDB',
           'CUHKPEDES', 'ICFGPEDES', 'RSTPReid', 'TorchreidDataset', 'CombinedReIDDataset', 'check_data_layouts',
           'CustomReIDDataset', 'CustomTextImageDataset', 'MSMT17',
           'LLCM']
