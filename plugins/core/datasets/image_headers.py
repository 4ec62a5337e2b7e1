"""Start-up check of a data set's image files from their headers: unreadable / zero-byte files and tiny images.

A zero-byte or non-image file otherwise stops training only when the sampler reaches it (minutes or hours in), and
a 1x1 px crop is silently upscaled to the input size. Reading the header is enough to find both: the first 4 KiB
of a file give the size of a JPEG, PNG or BMP (parsed here), anything else goes to PIL's lazy ``Image.open``
(header only, about 80 us a file). Files are read by a thread pool so that a network file system's latency
overlaps. A file whose header is fine but whose pixel data is truncated is *not* found here: that needs a full
decode (``check_images=True`` of the data sets).
"""
import struct
from concurrent.futures import ThreadPoolExecutor

from PIL import Image

#: Images smaller than this many pixels on a side are reported (``min_image_side`` of the data sets).
DEFAULT_MIN_IMAGE_SIDE = 8
#: Bytes read per file: the size fields of JPEG (after its APP segments), PNG and BMP files lie within them.
HEAD_BYTES = 4096
#: Files per task of the thread pool (one task per file would cost more than reading a header).
CHUNK = 256
#: JPEG start-of-frame markers (baseline, progressive, lossless, arithmetic ...): they carry the image size.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
#: BMP header sizes (BITMAPCOREHEADER = 12, then INFO/V2/V3/V4/V5 headers).
_BMP_HEADERS = (12, 40, 52, 56, 64, 108, 124)


def _jpeg_size(head):
    pos = 2
    while pos + 9 <= len(head):
        if head[pos] != 0xFF:
            return None
        marker = head[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in _JPEG_SOF:
            height, width = struct.unpack('>HH', head[pos + 5:pos + 9])
            return width, height
        if marker == 0xDA:  # start of scan before any frame header: not a valid JPEG
            return None
        pos += 2 + struct.unpack('>H', head[pos + 2:pos + 4])[0]
    return None  # frame header beyond the bytes read (large APP segments): PIL decides


def _png_size(head):
    if len(head) >= 24 and head[12:16] == b'IHDR':
        return struct.unpack('>II', head[16:24])
    return None


def _bmp_size(head):
    if len(head) < 26:
        return None
    header_size = struct.unpack('<I', head[14:18])[0]
    if header_size not in _BMP_HEADERS:
        return None
    if header_size == 12:
        return struct.unpack('<HH', head[18:22])
    width, height = struct.unpack('<ii', head[18:26])
    return width, abs(height)  # a negative height is a top-down bitmap


def _pil_size(path):
    with Image.open(path) as image:  # lazy: parses the header, decodes nothing
        return image.size


def read_image_size(path):
    """(width, height) of an image file from its header, or why it cannot be an image.

    Args:
        path (str): the file.

    Returns:
        tuple[int, int] | str: the size in pixels, or a short reason (``'zero bytes'``, ``'cannot identify image
        file'``, ``'no such file (a broken link?)'`` ...).
    """
    try:
        with open(path, 'rb') as f:
            head = f.read(HEAD_BYTES)
        if not head:
            return 'zero bytes'
        size = None
        if head[:3] == b'\xff\xd8\xff':
            size = _jpeg_size(head)
        elif head[:8] == b'\x89PNG\r\n\x1a\n':
            size = _png_size(head)
        elif head[:2] == b'BM':
            size = _bmp_size(head)
        if size is None:  # another format, or a header the parsers above do not follow
            size = _pil_size(path)
    except FileNotFoundError:
        return 'no such file (a broken link?)'
    except Exception as error:  # noqa: BLE001  (PIL raises many kinds for a broken header: all mean "unreadable")
        return str(error).replace(f"'{path}'", '').replace(str(path), '').strip(' :') or type(error).__name__
    if min(size) <= 0:
        return f'{size[0]}x{size[1]} px in its header'
    return int(size[0]), int(size[1])


def read_image_sizes(paths, num_threads=None):
    """:func:`read_image_size` of every path, read by a thread pool.

    Args:
        paths (Sequence[str]): image files.
        num_threads (int, optional): threads; default ``ThreadPoolExecutor``'s (``min(32, cpu_count + 4)``).

    Returns:
        list[tuple[int, int] | str]: one entry per path, in order.
    """
    paths = list(paths)
    chunks = [paths[start:start + CHUNK] for start in range(0, len(paths), CHUNK)]
    if len(chunks) <= 1:
        return [read_image_size(p) for p in paths]
    with ThreadPoolExecutor(num_threads) as pool:
        return [size for chunk in pool.map(lambda c: [read_image_size(p) for p in c], chunks) for size in chunk]


def describe_files(items, total, limit=3):
    """``'a.jpg (zero bytes), b.jpg (1x1 px) and 5 more'`` for the first ``limit`` of ``items`` [(path, what)]."""
    shown = ', '.join(f'{path} ({what})' for path, what in items[:limit])
    return shown + (f' and {total - limit} more' if total > limit else '')
