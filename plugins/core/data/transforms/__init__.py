from .pack import PackReIDInputs

__all__ = ['PackReIDInputs']
