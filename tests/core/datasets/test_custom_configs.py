"""A user's captioned crops and visible-infrared crops go through the published pipelines, samplers and protocols
with only the data set type and root changed (IRRA / SSAN / AXM-Net, CAL)."""
import json
import os.path as osp

import numpy as np
import torch
from mmengine import Config
from mmengine.registry import init_default_scope
from mmpretrain.registry import DATA_SAMPLERS, DATASETS

import plugins  # noqa: F401
from dataset_test_utils import REPO
from plugins.core.data.tokenizers.prepare_word_vocabulary import prepare_word_vocabulary
from plugins.core.evaluation import ReIDMetric


def config(name, data_root, type_):
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'demo', name))
    init_default_scope('mmpretrain')
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key]['dataset'].update(type=type_, data_root=data_root)
        cfg[key]['dataset'].pop('trial', None)
    return cfg


def test_captioned_crops_through_the_text_configs(demo_root, tmp_path):
    """CUHK-PEDES demo records rewritten as a user's train.json / test.txt (paths relative to data_root)."""
    with open(osp.join(demo_root, 'cuhk-pedes', 'reid_raw.json')) as f:
        records = json.load(f)
    img = osp.join(demo_root, 'cuhk-pedes', 'imgs')
    with open(tmp_path / 'train.json', 'w') as f:
        json.dump([dict(path=osp.join(img, r['file_path']), pid=r['id'], captions=r['captions'])
                   for r in records if r['split'] == 'train'], f)
    with open(tmp_path / 'test.txt', 'w') as f:
        f.writelines(f"{osp.join(img, r['file_path'])} {r['id']} {c}\n" for r in records if r['split'] == 'test'
                     for c in r['captions'])
    for name in ('irra_cuhkpedes_demo.py', 'ssan_cuhkpedes_demo.py', 'axmnet_cuhkpedes_demo.py'):
        cfg = config(name, str(tmp_path), 'CustomTextImageDataset')
        if 'ssan' in name or 'axmnet' in name:  # word vocabulary built from the custom training captions
            cfg.work_dir = str(tmp_path / name)
            assert len(prepare_word_vocabulary(cfg)) > 10
        train = DATASETS.build(dict(cfg.train_dataloader.dataset, verbose=False))
        assert train.metainfo['num_classes'] == 40 and len(train) == 40 * 3 * 2
        assert {'text', 'img'} <= set(train[0]['inputs'])
        test = DATASETS.build(dict(cfg.test_dataloader.dataset, verbose=False))  # (the val loader reads val.json)
        last = test[len(test) - 1]
        assert 'img' not in last['inputs'] and last['inputs']['text'].dtype == torch.long
        assert cfg.val_evaluator['protocol'] == 'text_image'


def test_visible_infrared_crops_through_the_cal_config(demo_root, tmp_path):
    """RegDB demo trial 1 rewritten as a user's CSV files with a modality column."""
    root = osp.join(demo_root, 'regdb')
    for split, parts in (('train', ('train',)), ('test', ('query', 'gallery'))):
        rows = []
        for modality, tag in (('visible', 'visible'), ('infrared', 'thermal')):
            with open(osp.join(root, 'idx', f'{split}_{tag}_1.txt')) as f:
                rows += [(osp.join(root, line.split()[0]), line.split()[1], modality) for line in f if line.strip()]
        for part in parts:  # test: visible in query.csv, infrared in gallery.csv
            keep = rows if part == 'train' else [r for r in rows if (r[2] == 'visible') == (part == 'query')]
            with open(tmp_path / f'{part}.csv', 'w') as f:
                f.write('path,pid,modality\n' + ''.join(f'{p},{pid},{m}\n' for p, pid, m in keep))
    cfg = config('cal_regdb_demo.py', str(tmp_path), 'CustomReIDDataset')
    train = DATASETS.build(dict(cfg.train_dataloader.dataset, verbose=False))
    assert train.metainfo['num_classes'] == cfg.model.num_classes == 20
    sampler = DATA_SAMPLERS.build(cfg.train_dataloader.sampler, default_args=dict(dataset=train, seed=0))
    batch = [int(i) for i in list(iter(sampler))[:cfg.train_dataloader.batch_size]]
    modalities = [train.get_data_info(i)['modality'] for i in batch]
    assert modalities.count('visible') == modalities.count('infrared') == len(batch) // 2
    test = DATASETS.build(dict(cfg.val_dataloader.dataset, verbose=False))
    # the regdb protocol on the custom test set: visible queries, infrared gallery; a perfect feature -> R1 100
    metric = ReIDMetric(**{k: v for k, v in cfg.val_evaluator.items() if k != 'type'})
    infos = [test.get_data_info(i) for i in range(len(test))]
    eye = np.eye(100, dtype=np.float32)
    metric.process(None, [dict(info, pred_feature=torch.from_numpy(eye[info['gt_label']]),
                               gt_label=torch.tensor([info['gt_label']])) for info in infos])
    result = metric.compute_metrics(metric.results)
    assert result['R1'] == 100.0 and metric.results and len(infos) == 200
