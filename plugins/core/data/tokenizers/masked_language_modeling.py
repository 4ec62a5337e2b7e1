"""IRRA's masked language modelling input: a masked copy of the caption ids and the labels to predict."""
import numpy as np
from mmcv.transforms import BaseTransform
from mmpretrain.registry import TRANSFORMS

from .clip_bpe_files import CLIP_VOCAB_SIZE, MASK_ID


@TRANSFORMS.register_module()
class MaskedLanguageModeling(BaseTransform):
    """Write ``mlm_text`` (masked copy of ``text``) and ``mlm_labels`` as IRRA's data side does.

    Every real token (``0 < id < mask_id``: not padding, SOT 49406, EOT 49407 or the mask 49405) is selected
    with probability ``mask_prob``; a selected token becomes the mask id with probability 0.8, a random id
    uniform in ``[1, vocab_size - 3)`` with probability 0.1, and stays unchanged with probability 0.1. Its
    label is the original id; every other label is ``ignore_index``. If no token is selected, the first
    real token is masked (IRRA forces one). ``results['text']`` is never modified (IRRA's reference code
    masked the SDM branch's ids in place through a shared numpy view).

    **Required key:** ``text`` (int64 (L,)). **Added keys:** ``mlm_text`` (int64 (L,)), ``mlm_labels``
    (int64 (L,)).

    Args:
        mask_prob (float): selection probability of a real token. Default 0.15.
        mask_id (int): id of the mask token. Default 49405 (CLIP/IRRA).
        vocab_size (int): vocabulary size; random ids are drawn in ``[1, vocab_size - 3)``. Default 49408.
        ignore_index (int): label of unselected positions. Default -100 (``nn.CrossEntropyLoss``'s default).
        seed (int, optional): seed of a private random generator (tests, reproducibility); default None uses
            numpy's global generator, which mmengine seeds per dataloader worker (a private seeded generator
            would be copied identically into every worker).
    """

    def __init__(self, mask_prob=0.15, mask_id=MASK_ID, vocab_size=CLIP_VOCAB_SIZE, ignore_index=-100, seed=None):
        self.mask_prob = mask_prob
        self.mask_id = mask_id
        self.vocab_size = vocab_size
        self.ignore_index = ignore_index
        self.seed = seed
        self.rng = np.random.default_rng(seed) if seed is not None else None

    def _uniform(self, size):
        return np.random.random(size) if self.rng is None else self.rng.random(size)

    def _randint(self, low, high, size):
        return np.random.randint(low, high, size) if self.rng is None else self.rng.integers(low, high, size)

    def mask(self, tokens):
        """int64 (L,) ids -> (masked copy, labels), both int64 (L,)."""
        tokens = np.asarray(tokens, dtype=np.int64)
        masked = tokens.copy()
        labels = np.full_like(tokens, self.ignore_index)
        real = (tokens > 0) & (tokens < self.mask_id)
        draw = self._uniform(len(tokens))  # one uniform per position, as IRRA's per-token random.random()
        selected = real & (draw < self.mask_prob)
        if not selected.any() and real.any():
            first = np.flatnonzero(real)[0]
            masked[first] = self.mask_id
            labels[first] = tokens[first]
            return masked, labels
        action = draw / max(self.mask_prob, 1e-12)  # uniform in [0, 1) given selection
        to_mask = selected & (action < 0.8)
        to_random = selected & (action >= 0.8) & (action < 0.9)
        masked[to_mask] = self.mask_id
        masked[to_random] = self._randint(1, self.vocab_size - 3, int(to_random.sum()))
        labels[selected] = tokens[selected]
        return masked, labels

    def transform(self, results):
        if 'text' not in results:
            raise KeyError(f'MaskedLanguageModeling: sample {results.get("sample_idx")} has no "text"; put a '
                           f'tokenizer (CLIPTokenize) before it in the pipeline')
        results['mlm_text'], results['mlm_labels'] = self.mask(results['text'])
        return results

    def __repr__(self):
        return (f'{self.__class__.__name__}(mask_prob={self.mask_prob}, mask_id={self.mask_id}, '
                f'vocab_size={self.vocab_size}, ignore_index={self.ignore_index}, seed={self.seed})')
