"""CombinedReIDDataset: one label space over several sources (torchreid's ``sources``), ``combineall``."""
import os.path as osp

import numpy as np
import pytest
from dataset_test_utils import write_image

from plugins.core.datasets import CombinedReIDDataset, DukeMTMCReID, Market1501
from plugins.core.models import check_model_matches_data


def write_market(root, train, query=(), gallery=(), archive='Market-1501-v15.09.15'):
    """A Market-1501 layout of 16x8 images; each list holds ``(pid, camera)`` pairs (1-based camera)."""
    for folder, items in (('bounding_box_train', train), ('query', query), ('bounding_box_test', gallery)):
        for k, (pid, cam) in enumerate(items):
            person = f'{pid:04d}' if pid >= 0 else '-1'
            write_image(osp.join(root, archive, folder, f'{person}_c{cam}s1_{k:06d}_00.jpg'))
    return str(root)


def write_duke(root, train, query=(), gallery=()):
    for folder, items in (('bounding_box_train', train), ('query', query), ('bounding_box_test', gallery)):
        for k, (pid, cam) in enumerate(items):
            write_image(osp.join(root, 'DukeMTMC-reID', folder, f'{pid:04d}_c{cam}_f{k:07d}.jpg'))
    return str(root)


@pytest.fixture
def two_sources(tmp_path):
    # Market: ids 2 and 7 on cameras 1..6; Duke: ids 2 (another person!) and 5 on cameras 1..8
    market = write_market(tmp_path / 'market', train=[(2, 1), (2, 3), (7, 6)], query=[(3, 1)],
                          gallery=[(3, 2), (0, 4)])
    duke = write_duke(tmp_path / 'duke', train=[(2, 1), (5, 8), (5, 2)], query=[(9, 3)], gallery=[(9, 1)])
    return market, duke


def combined(market, duke, **kwargs):
    return CombinedReIDDataset(datasets=[dict(type='Market1501', data_root=market),
                                         dict(type='DukeMTMCReID', data_root=duke)], min_image_side=0, **kwargs)


def test_training_sources_get_one_label_space_and_distinct_cameras(two_sources):
    dataset = combined(*two_sources)
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    # written by hand from the files above: Market ids {2, 7} -> 0, 1; Duke ids {2, 5} -> 2, 3 (after Market's 2)
    assert [(i['dataset_name'], i['gt_label'], i['camid']) for i in infos] == [
        ('market1501', 0, 0), ('market1501', 0, 2), ('market1501', 1, 5),
        ('dukemtmc-reid', 2, 6 + 0), ('dukemtmc-reid', 3, 6 + 1), ('dukemtmc-reid', 3, 6 + 7)]  # sorted names
    assert [i['sample_idx'] for i in infos] == list(range(6))
    assert dataset.metainfo['num_classes'] == 4
    assert dict(dataset.metainfo['source_classes']) == {'market1501': 2, 'dukemtmc-reid': 2}
    np.testing.assert_array_equal(dataset.get_gt_labels(), [0, 0, 1, 2, 3, 3])


def test_test_sources_keep_their_ids_and_cameras_and_are_named(two_sources):
    dataset = combined(*two_sources, split='test', names=['M', 'D'])
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    assert [(i['dataset_name'], i['gt_label'], i['camid'], i['split_role']) for i in infos] == [
        ('M', 3, 0, 'query'), ('M', 0, 3, 'gallery'), ('M', 3, 1, 'gallery'),  # sorted file names
        ('D', 9, 2, 'query'), ('D', 9, 0, 'gallery')]
    assert 'num_classes' not in dataset.metainfo


def test_samples_are_those_of_the_sources(two_sources):
    market, duke = two_sources
    dataset = combined(market, duke)
    paths = [dataset.get_data_info(i)['img_path'] for i in range(len(dataset))]
    singles = [Market1501(market, min_image_side=0), DukeMTMCReID(duke, min_image_side=0)]
    assert paths == [s.get_data_info(i)['img_path'] for s in singles for i in range(len(s))]


def test_model_num_classes_that_disagrees_is_refused_naming_both_numbers_and_the_sources(two_sources):
    metainfo = combined(*two_sources).metainfo
    check_model_matches_data(4, metainfo, 'ReIDBaseline')  # agrees: nothing raised
    with pytest.raises(ValueError, match=r'model.num_classes=751, but the training data has 4 identities = '
                                         r'2 \(market1501\) \+ 2 \(dukemtmc-reid\); set `model.num_classes=4`'):
        check_model_matches_data(751, metainfo, 'ReIDBaseline')


def test_bad_combinations_are_clear_errors(two_sources):
    market, duke = two_sources
    with pytest.raises(ValueError, match=r"set names \['x'\] repeat"):
        combined(market, duke, names=['x', 'x'])
    with pytest.raises(ValueError, match=r"source 1 \(DukeMTMCReID\) has split='test'; combine training sources"):
        CombinedReIDDataset(datasets=[dict(type='Market1501', data_root=market),
                                      dict(type='DukeMTMCReID', data_root=duke, split='test')], min_image_side=0)
    with pytest.raises(ValueError, match=r"source 0 \(Market1501\) sets its own `pipeline`"):
        CombinedReIDDataset(datasets=[dict(type='Market1501', data_root=market, pipeline=[dict(type='Resize')])])
    with pytest.raises(ValueError, match='non-empty list'):
        CombinedReIDDataset(datasets=[])


def test_combineall_trains_on_train_query_and_gallery_with_test_ids_after_train_ids(tmp_path):
    # test id 2 is another person than train id 2 (torchreid numbers test ids after the train ids);
    # distractors (0) and junk (-1) are left out
    root = write_market(tmp_path, train=[(2, 1), (7, 2)], query=[(2, 3), (4, 1)],
                        gallery=[(2, 5), (4, 2), (0, 1), (-1, 1)])
    dataset = Market1501(root, combineall=True, min_image_side=0)
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    assert [(osp.basename(osp.dirname(i['img_path'])), i['gt_label'], i['split_role']) for i in infos] == [
        ('bounding_box_train', 0, 'train'), ('bounding_box_train', 1, 'train'),
        ('query', 2, 'train'), ('query', 3, 'train'), ('bounding_box_test', 2, 'train'),
        ('bounding_box_test', 3, 'train')]
    assert dataset.metainfo['num_classes'] == 4
    with pytest.raises(ValueError, match="needs split='train'"):
        Market1501(root, split='test', combineall=True)


def test_combineall_inside_a_combined_set(tmp_path, two_sources):
    market, duke = two_sources
    dataset = CombinedReIDDataset(datasets=[dict(type='Market1501', data_root=market, combineall=True),
                                            dict(type='DukeMTMCReID', data_root=duke)], min_image_side=0)
    # Market: train ids 2, 7 + test id 3 (distractor 0 left out) = 3 ids; Duke: 2 ids
    assert dataset.metainfo['num_classes'] == 5
    assert sorted(set(dataset.get_gt_labels().tolist())) == [0, 1, 2, 3, 4]


def test_visible_infrared_sources_combine_for_the_cross_modality_sampler(demo_root):
    from plugins.core.data.samplers import CrossModalitySampler
    dataset = CombinedReIDDataset(datasets=[
        dict(type='SYSUMM01', data_root=osp.join(demo_root, 'sysu-mm01')),
        dict(type='RegDB', data_root=osp.join(demo_root, 'regdb'), trial=1)], verbose=False)
    sysu, regdb = dataset.metainfo['source_classes'].values()
    assert dataset.metainfo['num_classes'] == sysu + regdb
    sampler = CrossModalitySampler(dataset, num_instances=2, batch_size=8, seed=0)
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    seen = set()
    indices = [int(i) for i in sampler]
    for start in range(0, len(indices) - 7, 8):
        batch = [infos[i] for i in indices[start:start + 8]]
        for label in {b['gt_label'] for b in batch}:  # K visible + K infrared of every identity of the batch
            modalities = sorted(b['modality'] for b in batch if b['gt_label'] == label)
            assert modalities == ['infrared', 'infrared', 'visible', 'visible'], (label, modalities)
        seen.update(b['dataset_name'] for b in batch)
    assert seen == {'sysu-mm01', 'regdb'}


def test_text_image_sources_combine_into_one_word_vocabulary(demo_root, tmp_path):
    from plugins.core.data.tokenizers.prepare_word_vocabulary import training_captions, vocabulary_for_training
    sources = [dict(type='CUHKPEDES', data_root=osp.join(demo_root, 'cuhk-pedes')),
               dict(type='ICFGPEDES', data_root=osp.join(demo_root, 'icfg-pedes'))]
    dataset = CombinedReIDDataset(datasets=sources, verbose=False)
    singles = [training_captions(CombinedReIDDataset(datasets=[s], verbose=False)) for s in sources]
    assert training_captions(dataset) == singles[0] + singles[1]  # every caption of both sets, in order
    # what WordVocabularyHook builds for the run: one vocabulary over both sets' captions
    vocab, built = vocabulary_for_training(str(tmp_path / 'vocab.json'), dataset, min_count=1, save=False)
    words = set(vocab.words)
    assert built and all(w in words for caption in singles[1] for w in caption.lower().split() if w.isalpha())
