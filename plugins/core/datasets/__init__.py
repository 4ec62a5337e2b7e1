"""ReID data sets parsing the real on-disk layouts into the data_info dicts of ``docs/data_contract.md``."""
from .base import ReIDBaseDataset
from .market1501 import Market1501

__all__ = ['ReIDBaseDataset', 'Market1501']
