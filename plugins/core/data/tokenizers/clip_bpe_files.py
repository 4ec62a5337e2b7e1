"""CLIP's BPE vocabulary as ``vocab.json`` + ``merges.txt``, written once from the file open_clip ships."""
import gzip
import json
import os
import os.path as osp

from plugins.core.utils.atomic_write import atomic_write

#: CLIP's special token ids (vocabulary of 49408 = 256 bytes x 2 + 48894 merges + 2 specials).
SOT_ID, EOT_ID, MASK_ID = 49406, 49407, 49405
CLIP_VOCAB_SIZE = 49408
SOT_TOKEN, EOT_TOKEN = '<|startoftext|>', '<|endoftext|>'
_NUM_MERGES = 49152 - 256 - 2  # lines 1..48894 of the merges file are used by CLIP
_BPE_NAME = 'bpe_simple_vocab_16e6.txt.gz'


def cache_dir():
    """Where derived files are written: ``$MMREID_CACHE`` or ``~/.cache/mmreid``."""
    return os.environ.get('MMREID_CACHE') or osp.join(osp.expanduser('~'), '.cache', 'mmreid')


def bytes_to_unicode():
    """GPT-2/CLIP's reversible map of the 256 byte values to printable unicode characters."""
    printable = list(range(ord('!'), ord('~') + 1)) + list(range(ord('¡'), ord('¬') + 1)) + \
        list(range(ord('®'), ord('ÿ') + 1))
    codes = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return dict(zip(printable, map(chr, codes)))


def find_open_clip_bpe():
    """Path of ``bpe_simple_vocab_16e6.txt.gz`` inside the installed ``open_clip_torch`` wheel."""
    try:
        import open_clip
    except ImportError as error:
        raise ImportError('CLIPTokenize needs the CLIP BPE merges file shipped by open_clip_torch '
                          f'({_BPE_NAME}): pip install open_clip_torch, or pass tokenizer=<hub name or dir>') from error
    path = osp.join(osp.dirname(open_clip.__file__), _BPE_NAME)
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path} not found: the installed open_clip_torch does not ship {_BPE_NAME}')
    return path


def clip_vocab_and_merges(bpe_path):
    """CLIP's vocabulary (token -> id) and merge list, built like CLIP's ``SimpleTokenizer``.

    Ids: the 256 byte characters, the same with ``</w>``, one token per merge (in merge order),
    then ``<|startoftext|>`` = 49406 and ``<|endoftext|>`` = 49407.
    """
    with gzip.open(bpe_path, 'rt', encoding='utf-8') as f:
        lines = f.read().split('\n')
    merges = [tuple(line.split()) for line in lines[1:_NUM_MERGES + 1]]
    tokens = list(bytes_to_unicode().values())
    tokens += [t + '</w>' for t in tokens] + [''.join(m) for m in merges] + [SOT_TOKEN, EOT_TOKEN]
    vocab = {token: i for i, token in enumerate(tokens)}
    assert len(vocab) == CLIP_VOCAB_SIZE and vocab[SOT_TOKEN] == SOT_ID, 'unexpected CLIP BPE file'
    return vocab, merges


def clip_bpe_files(folder=None):
    """Folder holding CLIP's ``vocab.json`` and ``merges.txt`` (written once, atomically, if missing).

    Args:
        folder (str, optional): where to write them; default ``<cache_dir()>/clip_bpe_16e6``.

    Returns:
        str: the folder (loadable with ``transformers.CLIPTokenizer.from_pretrained``).
    """
    folder = folder or osp.join(cache_dir(), 'clip_bpe_16e6')
    vocab_path, merges_path = osp.join(folder, 'vocab.json'), osp.join(folder, 'merges.txt')
    if osp.isfile(vocab_path) and osp.isfile(merges_path):
        return folder
    os.makedirs(folder, exist_ok=True)
    vocab, merges = clip_vocab_and_merges(find_open_clip_bpe())
    with atomic_write(merges_path, 'w', encoding='utf-8') as f:
        f.write('#version: 0.2\n' + ''.join(f'{a} {b}\n' for a, b in merges))
    # written last: it marks completion
    with atomic_write(vocab_path, 'w', encoding='utf-8') as f:
        f.write(json.dumps(vocab, ensure_ascii=False))
    return folder
