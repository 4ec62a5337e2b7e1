import json
import os

import numpy as np
import pytest
from mmengine.dataset import BaseDataset
from mmpretrain.registry import DATASETS, TRANSFORMS

import plugins  # noqa: F401
from plugins.core.data.tokenizers import WordVocabulary, vocabulary_for_training

CAPTIONS = [
    'A man in a red T-shirt, blue jeans.',
    'The man wears a RED shirt and black shoes',
    'A woman with a red bag',
    'woman in jeans; walking',
]
# counts (T-shirt -> t, shirt): a 5, red 3, then 2 each (alphabetical): in, jeans, man, shirt, woman;
# 10 more words once: t blue the wears and black shoes with bag walking (17 distinct words)
EXPECTED_WORDS = ['<pad>', '<unk>', 'a', 'red', 'in', 'jeans', 'man', 'shirt', 'woman']


def test_build_min_count_order_and_encoding():
    vocab = WordVocabulary.build(CAPTIONS, min_count=2)
    assert vocab.words == EXPECTED_WORDS
    assert vocab.encode('A RED coat, in Jeans!') == [2, 3, 1, 4, 5]
    assert len(WordVocabulary.build(CAPTIONS, min_count=1)) == 2 + 17
    assert WordVocabulary.build(CAPTIONS, min_count=2, max_size=4).words == EXPECTED_WORDS[:4]


def test_save_load_round_trip(tmp_path):
    vocab = WordVocabulary.build(CAPTIONS)
    path = tmp_path / 'sub' / 'vocab.json'
    vocab.save(str(path))
    loaded = WordVocabulary.load(str(path))
    assert loaded.words == vocab.words and loaded.min_count == 2
    assert loaded.encode(CAPTIONS[0]) == vocab.encode(CAPTIONS[0])
    assert os.listdir(path.parent) == ['vocab.json']  # no temporary file left behind
    bad = tmp_path / 'bad.json'
    bad.write_text(json.dumps({'a': 1}))
    with pytest.raises(ValueError, match='bad.json'):
        WordVocabulary.load(str(bad))


def test_word_tokenize_ids_mask_truncation(tmp_path):
    path = str(tmp_path / 'vocab.json')
    WordVocabulary.build(CAPTIONS).save(path)
    tokenize = TRANSFORMS.build(dict(type='WordTokenize', vocab_file=path, max_length=4))
    out = tokenize.transform(dict(caption='a red unknownword', weak_caption='man in jeans a red'))
    assert out['text'].tolist() == [2, 3, 1, 0] and out['text_mask'].tolist() == [1, 1, 1, 0]
    assert out['weak_text'].tolist() == [6, 4, 5, 2] and out['weak_text_mask'].tolist() == [1, 1, 1, 1]
    assert out['text'].dtype == np.int64
    empty = tokenize.transform(dict(caption='!!'))
    assert empty['text'].tolist() == [1, 0, 0, 0] and empty['text_mask'].sum() == 1
    without = TRANSFORMS.build(dict(type='WordTokenize'))  # the run's WordVocabularyHook gives it one
    with pytest.raises(RuntimeError, match='WordVocabularyHook'):
        without.transform(dict(caption='a red bag'))


@DATASETS.register_module(force=True)
class _CaptionListDataset(BaseDataset):
    """Test-only text-image training set: one data_info per caption (no image file needed)."""

    def __init__(self, captions, ann_file='', **kwargs):
        self.captions = captions
        super().__init__(ann_file=ann_file, serialize_data=False, **kwargs)

    def load_data_list(self):
        return [dict(caption=c, gt_label=i, img_path=f'{i}.jpg') for i, c in enumerate(self.captions)]


def caption_set(captions, root):
    """A built training set whose captions are ``captions``, saved as ``<root>/captions.json``."""
    os.makedirs(root, exist_ok=True)
    ann_file = os.path.join(root, 'captions.json')
    with open(ann_file, 'w') as f:
        json.dump(captions, f)
    return DATASETS.build(dict(type='_CaptionListDataset', captions=captions, ann_file=ann_file))


def test_training_vocabulary_is_built_once_then_reused(tmp_path):
    path = str(tmp_path / 'work' / 'vocab.json')
    vocab, built = vocabulary_for_training(path, caption_set(CAPTIONS, tmp_path / 'a'), min_count=2, max_size=50)
    assert built and vocab.words == EXPECTED_WORDS
    assert vocab.source['num_captions'] == 4 and vocab.source['caption_file'] == str(tmp_path / 'a' / 'captions.json')
    stamp = os.stat(path).st_mtime_ns
    # the same captions elsewhere (another data root): the same vocabulary, reused untouched
    again, built = vocabulary_for_training(path, caption_set(CAPTIONS, tmp_path / 'b'), min_count=2, max_size=50)
    assert not built and again.words == EXPECTED_WORDS and os.stat(path).st_mtime_ns == stamp


@pytest.mark.parametrize('change', ['captions', 'min_count', 'max_size'])
def test_vocabulary_of_other_captions_or_options_is_refused(tmp_path, change):
    path = str(tmp_path / 'vocab.json')
    vocabulary_for_training(path, caption_set(CAPTIONS, tmp_path / 'old'), min_count=2, max_size=50)
    content = open(path).read()
    captions = CAPTIONS[:3] + ['a man in a green coat'] if change == 'captions' else CAPTIONS
    options = dict(min_count=1 if change == 'min_count' else 2, max_size=60 if change == 'max_size' else 50)
    with pytest.raises(ValueError) as error:
        vocabulary_for_training(path, caption_set(captions, tmp_path / 'new'), **options)
    message = str(error.value)
    assert path in message and 'Delete it' in message
    if change == 'captions':  # both caption files are named
        assert str(tmp_path / 'old' / 'captions.json') in message and str(tmp_path / 'new' / 'captions.json') in message
    assert open(path).read() == content  # left as it was


def test_vocabulary_without_a_source_record_is_refused(tmp_path):
    path = str(tmp_path / 'vocab.json')
    WordVocabulary.build(CAPTIONS).save(path)  # as written before the source was recorded
    with pytest.raises(ValueError, match='no record of the captions'):
        vocabulary_for_training(path, caption_set(CAPTIONS, tmp_path / 'a'))


def test_failed_build_leaves_no_vocabulary(tmp_path, monkeypatch):
    path = tmp_path / 'work' / 'vocab.json'
    dataset = caption_set(CAPTIONS, tmp_path / 'a')
    monkeypatch.setattr(json, 'dump', lambda *args, **kwargs: (_ for _ in ()).throw(OSError('disk full')))
    with pytest.raises(OSError, match='disk full'):
        vocabulary_for_training(str(path), dataset)
    assert os.listdir(path.parent) == []  # neither vocab.json nor its temporary file
    monkeypatch.undo()
    bad = caption_set(CAPTIONS, tmp_path / 'b')
    bad.data_list.append(dict(gt_label=9, img_path='9.jpg'))  # a sample without caption
    with pytest.raises(KeyError, match='caption'):
        vocabulary_for_training(str(path), bad)
    assert not path.exists()
