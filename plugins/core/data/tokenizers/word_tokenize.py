"""Word-level tokenisation of captions with a :class:`WordVocabulary` (SSAN / AXM-Net)."""
import numpy as np
from mmcv.transforms import BaseTransform
from mmpretrain.registry import TRANSFORMS

from .word_vocabulary import PAD_ID, UNK_ID, WordVocabulary, split_words

#: caption key -> (ids key, mask key).
CAPTION_KEYS = (('caption', 'text', 'text_mask'), ('weak_caption', 'weak_text', 'weak_text_mask'))


def unknown_word_rate(words, vocab):
    """Share of the words (lists of :func:`split_words` of each caption) that ``vocab`` encodes as ``<unk>``."""
    total = sum(len(w) for w in words)
    unknown = sum(1 for caption in words for word in caption if word not in vocab.index)
    return unknown / max(total, 1)


@TRANSFORMS.register_module()
class WordTokenize(BaseTransform):
    """Caption -> word ids ``text`` (int64 (L,), zero-padded) and ``text_mask`` (int64 (L,), 1 on words).

    The text encoders find the words as ``text_mask`` (SSAN's BiLSTM keeps padding out of every word
    feature). Captions longer than ``max_length`` words are cut; a caption without any word
    becomes a single ``<unk>`` so that every length is >= 1. ``weak_caption`` gives ``weak_text`` and
    ``weak_text_mask`` in the same way.

    The vocabulary is the training run's: configs leave ``vocab_file`` ``None`` and ``WordVocabularyHook``
    (in their ``custom_hooks``) hands the vocabulary to every ``WordTokenize`` of the run's data loaders
    (:meth:`set_vocabulary`) before the first sample is read; code without a Runner sets ``vocab_file``
    (:func:`~plugins.core.data.tokenizers.prepare_word_vocabulary`).

    Args:
        vocab_file (str, optional): JSON written by :meth:`WordVocabulary.save`.
        max_length (int): L. Default 100 (SSAN).
    """

    def __init__(self, vocab_file=None, max_length=100):
        self.vocab_file = vocab_file
        self.max_length = max_length
        self.vocab = None if vocab_file is None else WordVocabulary.load(vocab_file)

    def set_vocabulary(self, vocab, vocab_file=None):
        """Use ``vocab`` (a :class:`WordVocabulary`; ``vocab_file`` names where it came from, for messages)."""
        self.vocab, self.vocab_file = vocab, vocab_file

    def tokenize(self, caption):
        """One caption -> (ids, mask), both int64 (max_length,)."""
        if self.vocab is None:
            raise RuntimeError('WordTokenize: no word vocabulary; add dict(type=\'WordVocabularyHook\') to the '
                               'config\'s custom_hooks (it builds or loads the run\'s vocabulary before the data is '
                               'read), or set vocab_file to a vocabulary JSON')
        ids = self.vocab.encode(caption)[:self.max_length] or [UNK_ID]
        tokens = np.full(self.max_length, PAD_ID, dtype=np.int64)
        tokens[:len(ids)] = ids
        mask = np.zeros(self.max_length, dtype=np.int64)
        mask[:len(ids)] = 1
        return tokens, mask

    def caption_lengths(self, captions):
        """``(words of each caption, how many of them the model reads, 'words')``."""
        return [len(split_words(c)) for c in captions], self.max_length, 'words'

    def caption_report(self, captions):
        """What this tokenizer does to ``captions`` (see :func:`~.caption_report.summarize_captions`); the share of
        unknown words is known only once the vocabulary is (the training run's is built after the data set)."""
        words = [split_words(c) for c in captions]
        unknown_rate = None
        if self.vocab is not None:
            unknown_rate = unknown_word_rate(words, self.vocab)
        return dict(truncated=sum(len(w) > self.max_length for w in words), longest=max(map(len, words), default=0),
                    limit=f'{self.max_length} words',
                    non_ascii_fate='dropped by the word tokenizer (it keeps a-z, 0-9)', unknown_rate=unknown_rate)

    def transform(self, results):
        if 'caption' not in results:
            raise KeyError(f'WordTokenize: sample {results.get("sample_idx")} has no "caption" '
                           f'(keys: {sorted(results)})')
        for caption_key, ids_key, mask_key in CAPTION_KEYS:
            if caption_key in results:
                results[ids_key], results[mask_key] = self.tokenize(results[caption_key])
        return results

    def __repr__(self):
        return f'{self.__class__.__name__}(vocab_file={self.vocab_file!r}, max_length={self.max_length})'
