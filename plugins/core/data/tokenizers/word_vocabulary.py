"""Word vocabulary built from training captions (SSAN / AXM-Net text branches)."""
import json
import re
from collections import Counter

from plugins.core.utils.atomic_write import atomic_write

PAD, UNK = '<pad>', '<unk>'
PAD_ID, UNK_ID = 0, 1
_FORMAT = 'mmreid-word-vocabulary-v1'
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def split_words(text):
    """Lower-cased words of ``text``; punctuation separates words and is dropped ("t-shirt," -> t, shirt)."""
    return _WORD.findall(text.lower())


class WordVocabulary:
    """A word -> id table: ``<pad>`` = 0, ``<unk>`` = 1, then words by decreasing count (ties alphabetical).

    Args:
        words (Sequence[str]): the words, in id order, *without* the two special tokens.
        min_count (int): the minimum count used to build it (kept for the record).
        max_size (int, optional): the size limit used to build it (kept for the record).
        source (dict, optional): what it was built from (see
            :func:`~plugins.core.data.tokenizers.prepare_word_vocabulary.caption_source`), saved with it so that a
            later run can refuse a vocabulary of other captions.
    """

    def __init__(self, words, min_count=None, max_size=None, source=None):
        self.words = [PAD, UNK] + list(words)
        self.min_count = min_count
        self.max_size = max_size
        self.source = source
        self.index = {word: i for i, word in enumerate(self.words)}
        if len(self.index) != len(self.words):
            raise ValueError('WordVocabulary: duplicate words')

    @classmethod
    def build(cls, captions, min_count=2, max_size=None, source=None):
        """Count the words of ``captions`` and keep those seen at least ``min_count`` times.

        Args:
            captions (Iterable[str]): training captions.
            min_count (int): minimum number of occurrences of a kept word. Default 2.
            max_size (int, optional): keep at most this many ids in total (specials included), most frequent first.
            source (dict, optional): what ``captions`` are, recorded with the vocabulary.
        """
        counts = Counter(word for caption in captions for word in split_words(caption))
        words = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
        if max_size is not None:
            words = words[:max(max_size - 2, 0)]
        return cls(words, min_count=min_count, max_size=max_size, source=source)

    def __len__(self):
        return len(self.words)

    def encode(self, text):
        """Ids of the words of ``text`` (unknown words -> 1)."""
        return [self.index.get(word, UNK_ID) for word in split_words(text)]

    def decode(self, ids):
        """Words of ``ids`` (padding skipped)."""
        return [self.words[i] for i in ids if i != PAD_ID]

    def state(self):
        """JSON-able dict (also what checkpoints carry in ``meta``): format, build options, source, words."""
        return dict(format=_FORMAT, min_count=self.min_count, max_size=self.max_size, source=self.source,
                    words=list(self.words))

    @classmethod
    def from_state(cls, payload, where):
        """Inverse of :meth:`state`; ``where`` names the file or checkpoint in the error of a bad payload."""
        words = payload.get('words') if isinstance(payload, dict) else None
        if not isinstance(payload, dict) or payload.get('format') != _FORMAT or not words or words[:2] != [PAD, UNK]:
            raise ValueError(f'{where} is not a word vocabulary written by WordVocabulary.save '
                             f'(expected {{"format": "{_FORMAT}", "words": ["{PAD}", "{UNK}", ...]}})')
        return cls(words[2:], min_count=payload.get('min_count'), max_size=payload.get('max_size'),
                   source=payload.get('source'))

    def save(self, path):
        """Write the vocabulary as JSON, atomically (a reader never sees a partial file), with normal permissions."""
        with atomic_write(path, 'w', encoding='utf-8') as f:
            json.dump(self.state(), f, ensure_ascii=False, indent=0)

    @classmethod
    def load(cls, path):
        """Read a vocabulary written by :meth:`save`."""
        with open(path, encoding='utf-8') as f:
            payload = json.load(f)
        return cls.from_state(payload, path)

    def __repr__(self):
        return f'{self.__class__.__name__}(size={len(self)}, min_count={self.min_count})'
