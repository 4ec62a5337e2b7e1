import json
import os

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.dataset import BaseDataset
from mmpretrain.registry import DATASETS, TRANSFORMS

import plugins  # noqa: F401
from plugins.core.data.tokenizers import WordVocabulary, prepare_word_vocabulary

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
    with pytest.raises(ValueError, match='prepare_word_vocabulary'):
        TRANSFORMS.build(dict(type='WordTokenize'))


@DATASETS.register_module(force=True)
class _CaptionListDataset(BaseDataset):
    """Test-only text-image training set: one data_info per caption (no image file needed)."""

    def __init__(self, captions, **kwargs):
        self.captions = captions
        super().__init__(**kwargs)

    def load_data_list(self):
        return [dict(caption=c, gt_label=i, img_path=f'{i}.jpg') for i, c in enumerate(self.captions)]


def make_cfg(work_dir, captions):
    tokenize = dict(type='WordTokenize', vocab_file=None, max_length=8)
    return Config(dict(
        work_dir=str(work_dir),
        word_vocab=dict(file=None, min_count=2),
        model=dict(type='SSAN', vocab_size=None),
        train_dataloader=dict(batch_size=2, dataset=dict(
            type='_CaptionListDataset', captions=captions,
            pipeline=[dict(type='LoadReIDImage'), tokenize, dict(type='PackReIDInputs')])),
        val_dataloader=dict(dataset=dict(type='_CaptionListDataset', captions=['x'], pipeline=[tokenize])),
        test_dataloader=dict(dataset=dict(type='ConcatDataset', datasets=[
            dict(type='_CaptionListDataset', captions=['y'], pipeline=[tokenize])])),
    ))


def word_tokenize_cfgs(cfg):
    return [cfg.train_dataloader.dataset.pipeline[1], cfg.val_dataloader.dataset.pipeline[0],
            cfg.test_dataloader.dataset.datasets[0].pipeline[0]]


def test_prepare_builds_once_then_reloads(tmp_path):
    cfg = make_cfg(tmp_path, CAPTIONS)
    vocab = prepare_word_vocabulary(cfg)
    path = str(tmp_path / 'vocab.json')
    assert vocab.words == EXPECTED_WORDS
    assert cfg.model.vocab_size == len(EXPECTED_WORDS)
    assert all(t.vocab_file == path for t in word_tokenize_cfgs(cfg))
    stamp, content = os.stat(path).st_mtime_ns, open(path).read()

    # resume / test: other captions in the config, but the saved vocabulary is reused untouched
    again = make_cfg(tmp_path, ['completely different words here', 'different words'])
    reloaded = prepare_word_vocabulary(again, vocab_size_key='model.text_vocab')
    assert reloaded.words == EXPECTED_WORDS and again.model.text_vocab == len(EXPECTED_WORDS)
    assert os.stat(path).st_mtime_ns == stamp and open(path).read() == content
    tokenize = TRANSFORMS.build(word_tokenize_cfgs(again)[1])
    assert tokenize.transform(dict(caption='a red man'))['text'][:3].tolist() == [2, 3, 6]


def test_prepare_strict_mode_and_configs_without_vocab(tmp_path):
    with pytest.raises(FileNotFoundError, match='vocab.json'):
        prepare_word_vocabulary(make_cfg(tmp_path, CAPTIONS), build_if_missing=False)
    plain = Config(dict(work_dir=str(tmp_path), model=dict(type='IRRA')))
    assert prepare_word_vocabulary(plain) is None and 'vocab_size' not in plain.model
