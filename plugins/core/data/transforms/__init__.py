from .channel_exchange import ChannelExchange
from .channel_random_erasing import ChannelRandomErasing
from .load_reid_image import LoadReIDImage
from .pack import PackReIDInputs
from .random_grayscale_reid import RandomGrayscaleReID

__all__ = ['PackReIDInputs', 'LoadReIDImage', 'RandomGrayscaleReID', 'ChannelExchange', 'ChannelRandomErasing']
