import numpy as np
from mmpretrain.registry import TRANSFORMS

import plugins  # noqa: F401

MASK, SOT, EOT = 49405, 49406, 49407


def caption_ids(rng, num_words=20, length=77):
    ids = np.zeros(length, np.int64)
    ids[0] = SOT
    ids[1:num_words + 1] = rng.integers(1, 49405, num_words)
    ids[num_words + 1] = EOT
    return ids


def test_text_is_never_modified_and_labels_mark_masked_positions():
    mlm = TRANSFORMS.build(dict(type='MaskedLanguageModeling', seed=0))
    rng = np.random.default_rng(1)
    for _ in range(50):
        text = caption_ids(rng)
        original = text.copy()
        out = mlm.transform(dict(text=text))
        assert out['text'] is text and np.array_equal(text, original)
        assert out['mlm_text'] is not text and out['mlm_text'].dtype == np.int64
        labels = out['mlm_labels']
        selected = labels != -100
        assert selected.any()
        assert np.array_equal(labels[selected], original[selected])
        assert not selected[0] and not selected[21:].any()  # never SOT, EOT or padding
        assert np.array_equal(out['mlm_text'][~selected], original[~selected])


def test_masking_statistics_match_bert_15_80_10_10():
    mlm = TRANSFORMS.build(dict(type='MaskedLanguageModeling', seed=2))
    rng = np.random.default_rng(3)
    real = selected = masked = randomised = kept = 0
    for _ in range(3000):
        text = caption_ids(rng, num_words=int(rng.integers(5, 40)))
        out = mlm.transform(dict(text=text))
        is_real = (text > 0) & (text < MASK)
        sel = out['mlm_labels'] != -100
        real += is_real.sum()
        selected += sel.sum()
        new = out['mlm_text'][sel]
        masked += (new == MASK).sum()
        kept += (new == text[sel]).sum()
        changed = (new != MASK) & (new != text[sel])
        randomised += changed.sum()
        assert ((new[changed] >= 1) & (new[changed] < 49405)).all()
    assert abs(selected / real - 0.15) < 0.006
    assert abs(masked / selected - 0.8) < 0.015
    assert abs(randomised / selected - 0.1) < 0.012
    assert abs(kept / selected - 0.1) < 0.012


def test_one_token_forced_when_none_selected_and_nothing_when_no_real_token():
    mlm = TRANSFORMS.build(dict(type='MaskedLanguageModeling', mask_prob=0.0))
    text = np.array([SOT, 320, 1125, EOT, 0, 0], np.int64)
    out = mlm.transform(dict(text=text))
    assert out['mlm_text'].tolist() == [SOT, MASK, 1125, EOT, 0, 0]
    assert out['mlm_labels'].tolist() == [-100, 320, -100, -100, -100, -100]
    empty = mlm.transform(dict(text=np.array([SOT, EOT, 0], np.int64)))
    assert empty['mlm_text'].tolist() == [SOT, EOT, 0] and (empty['mlm_labels'] == -100).all()


def test_seeded_generator_is_reproducible():
    text = caption_ids(np.random.default_rng(0))
    a = TRANSFORMS.build(dict(type='MaskedLanguageModeling', seed=7))
    b = TRANSFORMS.build(dict(type='MaskedLanguageModeling', seed=7))
    outs_a = [a.mask(text) for _ in range(5)]
    outs_b = [b.mask(text) for _ in range(5)]
    assert all(np.array_equal(x[0], y[0]) and np.array_equal(x[1], y[1]) for x, y in zip(outs_a, outs_b))
    assert not all(np.array_equal(outs_a[0][1], o[1]) for o in outs_a[1:])
