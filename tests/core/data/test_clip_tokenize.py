import os

import numpy as np
import pytest
from mmpretrain.registry import TRANSFORMS

import plugins  # noqa: F401
from plugins.core.data.tokenizers import clip_bpe_files

SENTENCES = [
    'a photo of a cat',
    'A woman wearing a RED jacket, blue jeans & white sneakers!!',
    "He's carrying a back-pack; it's 3:45pm  \n  and he'll walk     away.",
    'caf\u00e9 na\u00efve r\u00e9sum\u00e9 \U0001F600 &amp; &lt;b&gt; t-shirt/hoodie (grey)',
    'The man has short black hair and wears glasses. He is wearing a white shirt with a logo ' * 4,  # > 77 tokens
    '',
]


@pytest.fixture(scope='module')
def cache(tmp_path_factory):
    folder = tmp_path_factory.mktemp('mmreid_cache')
    old = os.environ.get('MMREID_CACHE')
    os.environ['MMREID_CACHE'] = str(folder)
    yield folder
    if old is None:
        del os.environ['MMREID_CACHE']
    else:
        os.environ['MMREID_CACHE'] = old


@pytest.fixture(scope='module')
def tokenize(cache):
    return TRANSFORMS.build(dict(type='CLIPTokenize'))


def test_known_clip_ids(tokenize):
    out = tokenize.transform(dict(caption='a photo of a cat'))['text']
    assert out.dtype == np.int64 and out.shape == (77, )
    assert out[:7].tolist() == [49406, 320, 1125, 539, 320, 2368, 49407]
    assert not out[7:].any()


def test_same_ids_as_open_clip_simple_tokenizer(tokenize):
    from open_clip.tokenizer import SimpleTokenizer
    reference = SimpleTokenizer()(SENTENCES, context_length=77).numpy()  # an independent BPE implementation
    ours = np.stack([tokenize.tokenize(s) for s in SENTENCES])
    assert np.array_equal(ours, reference)
    long = ours[4]
    assert long[0] == 49406 and long[-1] == 49407 and (long[1:-1] != 0).all()  # truncated, EOT kept last
    assert ours[5][:3].tolist() == [49406, 49407, 0]


def test_weak_caption_and_missing_caption(tokenize):
    out = tokenize.transform(dict(caption='a photo of a cat', weak_caption='a cat'))
    assert out['weak_text'][:4].tolist() == [49406, 320, 2368, 49407]
    with pytest.raises(KeyError, match='caption'):
        tokenize.transform(dict(sample_idx=3))


def test_vocabulary_files_written_once(cache, tokenize):
    folder = clip_bpe_files()
    assert folder.startswith(str(cache))
    vocab = os.path.join(folder, 'vocab.json')
    before = os.stat(vocab).st_mtime_ns
    assert clip_bpe_files() == folder and os.stat(vocab).st_mtime_ns == before
    assert not [f for f in os.listdir(folder) if f.endswith('.tmp')]  # .<name>.<pid>.tmp of atomic_write
    assert tokenize.tokenizer.convert_tokens_to_ids('<|endoftext|>') == 49407


def test_hub_or_local_tokenizer_option(tokenize, tmp_path):
    tokenize.tokenizer.save_pretrained(str(tmp_path))  # a local tokenizer folder, as downloaded from the hub
    other = TRANSFORMS.build(dict(type='CLIPTokenize', tokenizer=str(tmp_path), context_length=16))
    out = other.transform(dict(caption=SENTENCES[4]))['text']
    assert out.shape == (16, )
    assert np.array_equal(out, np.concatenate([tokenize.tokenize(SENTENCES[4])[:15], [49407]]))
    short = other.transform(dict(caption=SENTENCES[0]))['text']
    assert short.tolist() == [49406, 320, 1125, 539, 320, 2368, 49407] + [0] * 9
