"""Checks of a search query before its answer is trusted: a path that is not there, a query with no content.

A ranking always has a first result with a score, even for a caption of unknown words or a blank image, so
these checks say when the answer cannot mean anything:

- :func:`looks_like_path` / :func:`check_query_path`: a query that looks like a file path (a path separator
  without spaces, or an image-extension-like suffix such as ``.jpg`` / ``.jpgg``) but names no file is an error,
  never a caption.
- :func:`image_query_warnings`: an image smaller than :data:`MIN_IMAGE_SIDE` pixels on a side, or of
  (almost) one colour (pixel standard deviation below :data:`MIN_IMAGE_STD` grey levels).
- :func:`caption_query_warnings`: a caption of which no word is known to the text tokenizer (every word
  becomes ``<unk>`` for SSAN / AXM-Net, or is split into pieces by CLIP's BPE for IRRA), and
  :func:`long_caption_warnings`: a caption longer than the tokenizer keeps (the rest never reaches the model).
"""
import os.path as osp
import re
from typing import List, Sequence, Union

import numpy as np

#: A query image smaller than this on either side is drawn from almost no pixels.
MIN_IMAGE_SIDE = 8
#: Standard deviation (grey levels, 0-255) under which a query image counts as blank.
MIN_IMAGE_STD = 1.0
#: A suffix starting with one of these is an image extension, or a typo of one (``.jpgg``, ``.pngs``).
IMAGE_EXTENSION_STEMS = ('jp', 'png', 'bmp', 'gif', 'tif', 'webp', 'pgm', 'ppm', 'heic')
_SUFFIX = re.compile(r'\S\.([A-Za-z][A-Za-z0-9]{1,4})$')
_PATH_START = ('/', './', '../', '~/', '.\\', '..\\', '~\\')


def looks_like_path(text: str) -> bool:
    """Whether a query string is meant as a file path rather than a caption.

    True when it starts like a path (``/``, ``./``, ``../``, ``~/``), ends with an image-extension-like suffix
    (``.jpg``, ``.jpgg``, ``.PNG`` ...), or is a single token with a path separator or a 2-5 character
    suffix (``gallery/0001``, ``q.jpeg2``). A sentence with a slash ("a black/white coat") is a caption.
    """
    text = text.strip()
    if not text:
        return False
    if text.startswith(_PATH_START):
        return True
    suffix = _SUFFIX.search(text)
    if suffix and suffix.group(1).lower().startswith(IMAGE_EXTENSION_STEMS):
        return True
    single_token = not any(c.isspace() for c in text)
    return single_token and (suffix is not None or '/' in text or '\\' in text)


def check_query_path(query: str, what: str = 'query') -> None:
    """Raise ``FileNotFoundError`` naming ``query`` when it looks like a path (:func:`looks_like_path`) and is
    not a file."""
    if not osp.isfile(query) and looks_like_path(query):
        kind = 'a folder, not an image file' if osp.isdir(query) else 'not found'
        raise FileNotFoundError(f'{what}: {query!r} looks like an image path but is {kind}; a mistyped path is '
                                f'never searched as a caption (check the path, or reword a caption)')


def _read_image(image: Union[str, np.ndarray]) -> np.ndarray:
    if isinstance(image, np.ndarray):
        return image
    import cv2
    img = cv2.imread(str(image), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise OSError(f'query image cannot be decoded: {image}')
    return img


def image_query_warnings(image: Union[str, np.ndarray]) -> List[str]:
    """Why an image query cannot give a meaningful ranking (empty list when it can).

    Args:
        image (str | ndarray): file path or decoded image (H, W) / (H, W, C).
    """
    img = _read_image(image)
    name = image if isinstance(image, str) else 'the query image'
    height, width = img.shape[:2]
    if min(height, width) < MIN_IMAGE_SIDE:
        return [f'{name} is {width}x{height} px (under {MIN_IMAGE_SIDE} px on a side): it is stretched to the '
                f'model input from almost no pixels, so its ranking means little']
    std = float(np.asarray(img, dtype=np.float64).std())
    if std < MIN_IMAGE_STD:
        return [f'{name} is blank (pixel standard deviation {std:.2f} < {MIN_IMAGE_STD} grey level): it shows no '
                f'person, so its ranking means nothing']
    return []


def _known_word_test(transforms: Sequence):
    """``(is_known(word), vocabulary name)`` of the first tokenizer among ``transforms``, or None."""
    for transform in transforms:
        vocab = getattr(transform, 'vocab', None)
        if vocab is not None and hasattr(vocab, 'index'):  # WordTokenize: a word is known when it has an id
            return (lambda word: word in vocab.index), f'the word vocabulary ({len(vocab)} words)'
        tokenizer = getattr(transform, 'tokenizer', None)
        if tokenizer is not None and hasattr(tokenizer, 'tokenize'):
            return (lambda word: _is_single_token(tokenizer, word)), \
                f'the {type(tokenizer).__name__} vocabulary as a whole word'
    return None


def _is_single_token(tokenizer, word: str) -> bool:
    """Whether a BPE / WordPiece tokenizer knows ``word`` as one token: they never fail on a word, an unknown
    one is split into pieces (or becomes the unk token)."""
    pieces = tokenizer.tokenize(word)
    return len(pieces) == 1 and pieces[0] != getattr(tokenizer, 'unk_token', None)


def caption_query_warnings(caption: str, text_transforms: Sequence) -> List[str]:
    """Why a caption query cannot give a meaningful ranking (empty list when it can).

    Args:
        caption (str): the query.
        text_transforms (Sequence): the caption test pipeline's transforms (the tokenizer is found among them).
    """
    from plugins.core.data.tokenizers.word_vocabulary import split_words
    words = split_words(caption)
    if not words:
        return [f'caption {_shown(caption)} has no word (letters or digits): it is embedded as a single unknown token, '
                f'so its ranking means nothing']
    warnings = long_caption_warnings([caption], text_transforms)
    test = _known_word_test(text_transforms)
    if test is None:
        return warnings
    is_known, vocabulary = test
    if any(is_known(word) for word in words):
        return warnings
    shown = ', '.join(words[:8]) + (' ...' if len(words) > 8 else '')
    return warnings + [f'caption {_shown(caption)}: none of its {len(words)} words ({shown}) is in {vocabulary}, '
                       f'so the model sees only unknown tokens and its ranking means nothing']


def long_caption_warnings(captions: Sequence[str], text_transforms: Sequence) -> List[str]:
    """One warning per caption that the tokenizer among ``text_transforms`` cuts, naming its length and the limit.

    The tokenizers cut silently (CLIP keeps ``context_length - 2`` tokens between SOT and EOT, the word tokenizer
    ``max_length`` words), so a long description would be searched by its first words alone.

    Args:
        captions (Sequence[str]): the queries.
        text_transforms (Sequence): the caption test pipeline's transforms; the first with ``caption_lengths``
            (:class:`~plugins.core.data.tokenizers.CLIPTokenize`, ``WordTokenize``) is asked.
    """
    tokenizer = next((t for t in text_transforms if callable(getattr(t, 'caption_lengths', None))), None)
    if tokenizer is None:
        return []
    lengths, room, unit = tokenizer.caption_lengths(list(captions))
    return [f'caption {_shown(caption)} has {length} {unit}, more than the {room} {unit} that '
            f'{type(tokenizer).__name__} keeps: it is cut, and only its first {room} {unit} are searched'
            for caption, length in zip(captions, lengths) if length > room]


def _shown(caption: str, limit: int = 80) -> str:
    """The caption quoted for a message, shortened past ``limit`` characters (a 5,000-word query stays one line)."""
    return repr(caption) if len(caption) <= limit else repr(caption[:limit]) + f'... ({len(caption)} characters)'
