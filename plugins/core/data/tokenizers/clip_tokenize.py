"""CLIP BPE tokenisation of captions as a pipeline transform (exact CLIP ids, offline)."""
import html
import re
import unicodedata

import numpy as np
from mmcv.transforms import BaseTransform
from mmpretrain.registry import TRANSFORMS

from .clip_bpe_files import EOT_ID, SOT_ID, bytes_to_unicode, clip_bpe_files

try:
    import ftfy
except ImportError:  # optional, as in CLIP: only changes text with broken unicode
    ftfy = None

#: CLIP's pre-tokenizer (OpenAI's ``SimpleTokenizer.pat``, ``\p{L}`` / ``\p{N}`` written for the standard ``re``):
#: BPE runs on each piece alone.
CLIP_PIECES = re.compile(r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[^\W\d_]+|\d|(?:[^\s\w]|_)+")
#: caption key -> token key written by the tokenizer transforms.
CAPTION_TO_TOKENS = (('caption', 'text'), ('weak_caption', 'weak_text'))


def clean_caption(text):
    """CLIP's text cleaning: fix unicode (ftfy), unescape HTML twice, collapse white space, strip."""
    if ftfy is not None:
        text = ftfy.fix_text(text)
    text = html.unescape(html.unescape(text))
    return re.sub(r'\s+', ' ', text).strip()


def pad_token_ids(ids, sot_id, eot_id, context_length):
    """``[SOT] + ids + [EOT]`` cut to ``context_length`` keeping EOT last, zero-padded, int64 (L,)."""
    tokens = [sot_id] + list(ids)[:context_length - 2] + [eot_id]
    out = np.zeros(context_length, dtype=np.int64)
    out[:len(tokens)] = tokens
    return out


@TRANSFORMS.register_module()
class CLIPTokenize(BaseTransform):
    """Tokenise ``results['caption']`` with CLIP's BPE into ``results['text']`` (int64 array (L,)).

    Ids are identical to OpenAI CLIP / open_clip (``"a photo of a cat"`` -> 49406 320 1125 539 320 2368
    49407 0 ...): SOT 49406, EOT 49407 (the mask token of MLM is 49405), zero padding, and a caption longer
    than ``context_length`` is truncated with EOT kept as the last token (as IRRA). Works offline: CLIP's
    ``vocab.json``/``merges.txt`` are derived once from the ``bpe_simple_vocab_16e6.txt.gz`` that
    open_clip_torch ships (in ``$MMREID_CACHE`` or ``~/.cache/mmreid``) and loaded with transformers'
    ``CLIPTokenizer``. ``results['weak_caption']``, when present, becomes ``results['weak_text']``.

    Args:
        context_length (int): L, the token length. Default 77.
        tokenizer (str, optional): a Hugging Face hub name or local folder to load with
            ``transformers.AutoTokenizer`` instead (its ``bos``/``eos`` ids, or ``cls``/``sep``, frame the
            caption). Default None: CLIP's BPE.
    """

    def __init__(self, context_length=77, tokenizer=None):
        self.context_length = context_length
        self.tokenizer_name = tokenizer
        if tokenizer is None:
            from transformers import CLIPTokenizer
            self.tokenizer = CLIPTokenizer.from_pretrained(clip_bpe_files(), local_files_only=True)
            self.sot_id, self.eot_id = SOT_ID, EOT_ID
        else:
            from transformers import AutoTokenizer
            self.tokenizer = AutoTokenizer.from_pretrained(tokenizer)
            self.sot_id = self._special_id('bos_token_id', 'cls_token_id')
            self.eot_id = self._special_id('eos_token_id', 'sep_token_id')

    def _special_id(self, *names):
        for name in names:
            value = getattr(self.tokenizer, name, None)
            if value is not None:
                return value
        raise ValueError(f'CLIPTokenize: tokenizer {self.tokenizer_name!r} has none of {names}')

    def tokenize(self, caption):
        """One caption -> int64 array (context_length,)."""
        if not isinstance(caption, str):
            raise TypeError(f'CLIPTokenize: caption must be a str, got {type(caption).__name__}: {caption!r}')
        ids = self.tokenizer(clean_caption(caption), add_special_tokens=False)['input_ids']
        return pad_token_ids(ids, self.sot_id, self.eot_id, self.context_length)

    def token_counts(self, captions):
        """Number of tokens of each caption (without SOT/EOT), as :meth:`tokenize` gives them before cutting.

        BPE works on each pre-token (a run of letters, a digit, a run of punctuation) alone, so each distinct
        pre-token is encoded once and a caption's count is the sum over its pre-tokens: about 10 us a caption
        instead of 200 us through ``tokenizer(...)``. ftfy's repair of broken unicode is left out of this count.
        """
        captions = [re.sub(r'\s+', ' ', html.unescape(html.unescape(c))).strip() for c in captions]
        backend = getattr(self.tokenizer, 'backend_tokenizer', None)
        if backend is None:  # a slow tokenizer: one call over the whole list
            return [len(ids) for ids in self.tokenizer(captions, add_special_tokens=False)['input_ids']]
        if self.tokenizer_name is None:  # CLIP's own split (its normaliser: NFC, lower case), in C
            pieces = [CLIP_PIECES.findall(unicodedata.normalize('NFC', c).lower()) for c in captions]
            byte_map = bytes_to_unicode()
            to_model = {p: ''.join(byte_map[b] for b in p.encode('utf-8')) for p in set().union(*pieces)}
        else:  # another fast tokenizer: its own normaliser and pre-tokenizer
            normalize = backend.normalizer.normalize_str if backend.normalizer is not None else str
            split = backend.pre_tokenizer.pre_tokenize_str if backend.pre_tokenizer is not None else (
                lambda text: [(text, None)])
            pieces = [[p for p, _ in split(normalize(c))] for c in captions]
            to_model = {p: p for p in set().union(*pieces)}
        length = {p: len(backend.model.tokenize(m)) for p, m in to_model.items()}
        return [sum(length[p] for p in caption) for caption in pieces]

    def caption_lengths(self, captions):
        """``(tokens of each caption, how many of them the model reads, 'tokens')``: SOT and EOT take two of
        the ``context_length`` positions, so a caption of more than ``context_length - 2`` tokens is cut."""
        return self.token_counts(captions), self.context_length - 2, 'tokens'

    def caption_report(self, captions):
        """What this tokenizer does to ``captions`` (see :func:`~.caption_report.summarize_captions`)."""
        lengths, room, _ = self.caption_lengths(captions)
        return dict(truncated=sum(n > room for n in lengths), longest=max(lengths, default=0),
                    limit=f'{self.context_length} tokens', unknown_rate=None,
                    non_ascii_fate='split into byte tokens by the BPE' if self.tokenizer_name is None else
                    f'encoded by {self.tokenizer_name}')

    def transform(self, results):
        if 'caption' not in results:
            raise KeyError(f'CLIPTokenize: sample {results.get("sample_idx")} has no "caption" '
                           f'(keys: {sorted(results)})')
        for caption_key, token_key in CAPTION_TO_TOKENS:
            if caption_key in results:
                results[token_key] = self.tokenize(results[caption_key])
        return results

    def __repr__(self):
        return f'{self.__class__.__name__}(context_length={self.context_length}, tokenizer={self.tokenizer_name!r})'
