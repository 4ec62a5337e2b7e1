"""One start-up line about a data set's captions: how many the tokenizer cuts, non-ASCII characters, unknown words.

Over-long captions (a 2000-word caption becomes 77 CLIP tokens), emoji and accented letters (dropped by the word
tokenizer, split into byte tokens by CLIP's BPE) and words outside a word vocabulary change what the model reads
without any error. Counting them once over the caption list at start-up costs well under a second per 100k
captions and nothing per sample (the pipeline is unchanged).
"""


def non_ascii_counts(captions):
    """``(captions holding non-ASCII characters, number of such characters)``."""
    flagged = [c for c in captions if not c.isascii()]  # str.isascii runs in C: the common case costs nothing
    return len(flagged), sum(sum(1 for ch in c if ord(ch) > 127) for c in flagged)


def summarize_captions(captions, tokenizer, where):
    """The start-up line about ``captions`` as ``tokenizer`` reads them.

    Args:
        captions (Sequence[str]): every caption of the split.
        tokenizer: a transform with ``caption_report(captions)`` (:class:`CLIPTokenize`, :class:`WordTokenize`),
            returning ``truncated``, ``longest`` (the longest caption in the unit of ``limit``), ``limit`` (e.g.
            ``'77 tokens'``), ``non_ascii_fate`` and ``unknown_rate`` (None when not known yet).
        where (str): what the captions are, e.g. ``"CUHKPEDES split 'train'"``.

    Returns:
        str: e.g. ``CUHKPEDES split 'train': 1200 captions; 3 (0.25%) longer than the 77 tokens of CLIPTokenize are
        cut (the longest: 112 tokens); 5 hold 7 non-ASCII characters (emoji, accents), split into byte tokens by
        CLIP's BPE``.
    """
    total = len(captions)
    report = tokenizer.caption_report(captions)
    name = type(tokenizer).__name__
    cut = (f'{report["truncated"]} ({_share(report["truncated"], total)}) longer than the {report["limit"]} of '
           f'{name} are cut')
    if report['truncated']:  # how much is lost: the longest caption against the limit
        cut += f' (the longest: {report["longest"]} {report["limit"].split()[-1]})'
    parts = [f'{where}: {total} captions', cut]
    with_non_ascii, characters = non_ascii_counts(captions)
    if with_non_ascii:
        parts.append(f'{with_non_ascii} hold {characters} non-ASCII characters (emoji, accents), '
                     f'{report["non_ascii_fate"]}')
    if report.get('unknown_rate') is not None:
        parts.append(f'{100 * report["unknown_rate"]:.2f}% of the words are outside the vocabulary (<unk>)')
    return '; '.join(parts)


def _share(count, total):
    return f'{100 * count / max(total, 1):.2f}%'
