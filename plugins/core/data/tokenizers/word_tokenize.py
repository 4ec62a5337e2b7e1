"""Word-level tokenisation of captions with a :class:`WordVocabulary` (SSAN / AXM-Net)."""
import numpy as np
from mmcv.transforms import BaseTransform
from mmpretrain.registry import TRANSFORMS

from .word_vocabulary import PAD_ID, UNK_ID, WordVocabulary

#: caption key -> (ids key, mask key).
CAPTION_KEYS = (('caption', 'text', 'text_mask'), ('weak_caption', 'weak_text', 'weak_text_mask'))


@TRANSFORMS.register_module()
class WordTokenize(BaseTransform):
    """Caption -> word ids ``text`` (int64 (L,), zero-padded) and ``text_mask`` (int64 (L,), 1 on words).

    The text encoders find the words as ``text_mask`` (SSAN's BiLSTM keeps padding out of every word
    feature). Captions longer than ``max_length`` words are cut; a caption without any word
    becomes a single ``<unk>`` so that every length is >= 1. ``weak_caption`` gives ``weak_text`` and
    ``weak_text_mask`` in the same way.

    ``vocab_file`` is the vocabulary written for the training run; configs leave it ``None`` and
    :func:`prepare_word_vocabulary` (called by ``tools/train.py`` / ``tools/test.py``) fills it in.

    Args:
        vocab_file (str): JSON written by :meth:`WordVocabulary.save`.
        max_length (int): L. Default 100 (SSAN).
    """

    def __init__(self, vocab_file=None, max_length=100):
        if vocab_file is None:
            raise ValueError('WordTokenize: vocab_file is None; call plugins.core.data.tokenizers.'
                             'prepare_word_vocabulary(cfg) before building the datasets (tools/train.py and '
                             'tools/test.py do), or set vocab_file to a vocabulary JSON')
        self.vocab_file = vocab_file
        self.max_length = max_length
        self.vocab = WordVocabulary.load(vocab_file)

    def tokenize(self, caption):
        """One caption -> (ids, mask), both int64 (max_length,)."""
        ids = self.vocab.encode(caption)[:self.max_length] or [UNK_ID]
        tokens = np.full(self.max_length, PAD_ID, dtype=np.int64)
        tokens[:len(ids)] = ids
        mask = np.zeros(self.max_length, dtype=np.int64)
        mask[:len(ids)] = 1
        return tokens, mask

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
