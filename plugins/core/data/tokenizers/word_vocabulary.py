"""Word vocabulary built from training captions (SSAN / AXM-Net text branches)."""
import json
import os
import os.path as osp
import re
import tempfile
from collections import Counter

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
    """

    def __init__(self, words, min_count=None):
        self.words = [PAD, UNK] + list(words)
        self.min_count = min_count
        self.index = {word: i for i, word in enumerate(self.words)}
        if len(self.index) != len(self.words):
            raise ValueError('WordVocabulary: duplicate words')

    @classmethod
    def build(cls, captions, min_count=2, max_size=None):
        """Count the words of ``captions`` and keep those seen at least ``min_count`` times.

        Args:
            captions (Iterable[str]): training captions.
            min_count (int): minimum number of occurrences of a kept word. Default 2.
            max_size (int, optional): keep at most this many ids in total (specials included), most frequent first.
        """
        counts = Counter(word for caption in captions for word in split_words(caption))
        words = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
        if max_size is not None:
            words = words[:max(max_size - 2, 0)]
        return cls(words, min_count=min_count)

    def __len__(self):
        return len(self.words)

    def encode(self, text):
        """Ids of the words of ``text`` (unknown words -> 1)."""
        return [self.index.get(word, UNK_ID) for word in split_words(text)]

    def decode(self, ids):
        """Words of ``ids`` (padding skipped)."""
        return [self.words[i] for i in ids if i != PAD_ID]

    def save(self, path):
        """Write the vocabulary as JSON, atomically (a reader never sees a partial file)."""
        folder = osp.dirname(osp.abspath(path))
        os.makedirs(folder, exist_ok=True)
        payload = dict(format=_FORMAT, min_count=self.min_count, words=self.words)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix='.tmp_vocab_')
        try:
            with os.fdopen(fd, 'w', encoding='utf-8') as f:
                json.dump(payload, f, ensure_ascii=False, indent=0)
            os.replace(tmp, path)
        except BaseException:
            if osp.exists(tmp):
                os.remove(tmp)
            raise

    @classmethod
    def load(cls, path):
        """Read a vocabulary written by :meth:`save`."""
        with open(path, encoding='utf-8') as f:
            payload = json.load(f)
        words = payload.get('words') if isinstance(payload, dict) else None
        if payload.get('format') != _FORMAT or not words or words[:2] != [PAD, UNK]:
            raise ValueError(f'{path} is not a word vocabulary written by WordVocabulary.save '
                             f'(expected {{"format": "{_FORMAT}", "words": ["{PAD}", "{UNK}", ...]}})')
        return cls(words[2:], min_count=payload.get('min_count'))

    def __repr__(self):
        return f'{self.__class__.__name__}(size={len(self)}, min_count={self.min_count})'
