"""The MLM data side as IRRA uses it: the caption ids of the SDM branch stay intact, masking follows 15% / 80-10-10."""
import numpy as np
import pytest
from mmengine.dataset import Compose
from mmpretrain.registry import TRANSFORMS

import plugins  # noqa: F401
from plugins.core.data.tokenizers.masked_language_modeling import MaskedLanguageModeling

CAPTION = ('A woman with long black hair wears a red coat over a white shirt, blue jeans and black boots; '
           'she carries a brown handbag on her left shoulder.')


def test_pipeline_keeps_sdm_caption_ids_untouched():
    tokenize_only = Compose([TRANSFORMS.build(dict(type='CLIPTokenize'))])
    with_mlm = Compose([TRANSFORMS.build(t) for t in (
        dict(type='CLIPTokenize'), dict(type='MaskedLanguageModeling', seed=0), dict(type='PackReIDInputs'))])
    reference = tokenize_only(dict(caption=CAPTION))['text']
    for _ in range(20):
        packed = with_mlm(dict(caption=CAPTION, gt_label=0, sample_idx=0))['inputs']
        text, mlm_text, labels = (packed[k].numpy() for k in ('text', 'mlm_text', 'mlm_labels'))
        assert np.array_equal(text, reference)
        changed = mlm_text != text
        assert (labels[changed] == text[changed]).all()  # every altered position is a target
        assert (labels[labels != -100] == text[labels != -100]).all()
        # SOT, EOT and padding are never masked
        special = (text == 49406) | (text == 49407) | (text == 0)
        assert (labels[special] == -100).all() and (mlm_text[special] == text[special]).all()


def test_masking_statistics_15_percent_80_10_10():
    rng = np.random.default_rng(0)
    transform = MaskedLanguageModeling(seed=1)
    n_captions, length = 4000, 40
    selected = masked = randomised = kept = real_total = 0
    for _ in range(n_captions):
        tokens = np.zeros(77, dtype=np.int64)
        tokens[0], tokens[1:length + 1], tokens[length + 1] = 49406, rng.integers(1, 49405, length), 49407
        mlm_text, labels = transform.mask(tokens)
        sel = labels != -100
        selected += sel.sum()
        real_total += length
        masked += (mlm_text[sel] == 49405).sum()
        kept += (mlm_text[sel] == tokens[sel]).sum()
        randomised += ((mlm_text[sel] != 49405) & (mlm_text[sel] != tokens[sel])).sum()
    # binomial tolerances of ~5 standard deviations
    assert selected / real_total == pytest.approx(0.15, abs=5 * np.sqrt(0.15 * 0.85 / real_total))
    tol = 5 * np.sqrt(0.09 / selected)
    assert masked / selected == pytest.approx(0.8, abs=tol)
    assert randomised / selected == pytest.approx(0.1, abs=tol)
    assert kept / selected == pytest.approx(0.1, abs=tol)
