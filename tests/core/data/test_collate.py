"""reid_collate stacks per key in the loader worker; the preprocessor gives the same batch for every layout."""
import pytest
import torch
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from plugins.core.data.collate import reid_collate, stack_inputs, unstack_inputs


def _mixed_samples():
    """A text-image test batch: images at positions 0, 2, 3 and captions at 1, 4."""
    items = []
    for i in range(5):
        inputs = ({'text': torch.full((7,), i, dtype=torch.long)} if i in (1, 4)
                  else {'img': torch.randint(0, 256, (3, 8, 4), dtype=torch.uint8)})
        items.append(dict(inputs=inputs, data_samples=DataSample().set_gt_label(i)))
    return items


def test_collate_stacks_each_key_with_its_positions():
    items = _mixed_samples()
    batch = reid_collate(items)
    inputs = batch['inputs']
    assert inputs['img'].shape == (3, 3, 8, 4) and inputs['img_index'].tolist() == [0, 2, 3]
    assert inputs['text'].shape == (2, 7) and inputs['text_index'].tolist() == [1, 4]
    assert torch.equal(inputs['img'][1], items[2]['inputs']['img'])
    assert torch.equal(inputs['text'][1], items[4]['inputs']['text'])
    assert [s.gt_label.item() for s in batch['data_samples']] == [0, 1, 2, 3, 4]
    # and back: the per-sample dicts of the pipeline, in batch order
    back = unstack_inputs(inputs)
    assert [sorted(s) for s in back] == [sorted(i['inputs']) for i in items]
    assert all(torch.equal(b[k], i['inputs'][k]) for b, i in zip(back, items) for k in b)


def test_preprocessor_gives_the_same_batch_for_stacked_and_per_sample_inputs():
    pre = MODELS.build(dict(type='ReIDDataPreprocessor'))
    items = _mixed_samples()
    from_collate = pre(reid_collate(items))['inputs']
    from_list = pre(dict(inputs=[i['inputs'] for i in items], data_samples=None))['inputs']
    assert sorted(from_collate) == sorted(from_list) == ['img', 'img_index', 'text', 'text_index']
    for key in from_list:
        assert torch.equal(from_collate[key], from_list[key]), key
    assert from_collate['img'].dtype == torch.float32 and from_collate['text'].dtype == torch.long


def test_collate_names_the_key_whose_shapes_differ():
    items = [{'img': torch.zeros(3, 8, 4, dtype=torch.uint8)}, {'img': torch.zeros(3, 6, 4, dtype=torch.uint8)}]
    with pytest.raises(ValueError, match=r'inputs\["img"\].*different shapes'):
        stack_inputs(items)
