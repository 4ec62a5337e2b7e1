"""The paper's numbers beside the measured ones (plugins/core/evaluation/paper_table.py, tools/test.py, sweep).

The expected paper numbers are read here from the metafile YAML itself (not through plugins/core/metafile.py);
the multi-set matching runs on a repository copy whose metafile names two data sets.
"""
import json
import os.path as osp
import shutil

import pytest
import yaml

from plugins.core.evaluation.paper_table import compare_with_paper, find_model_entry
from tests.helpers import REPO

BASELINE = osp.join(REPO, 'configs', 'baseline_market1501.py')


def _yaml_results(metafile, model):
    with open(osp.join(REPO, metafile)) as f:
        entry = next(m for m in yaml.safe_load(f)['Models'] if m['Name'] == model)
    return entry['Results']


def test_published_config_gets_its_metafile_numbers_and_the_difference():
    (result, ) = _yaml_results('configs/baseline/metafile.yml', 'baseline_market1501')
    measured = {'R1': 90.0, 'R5': 96.5, 'mAP': 80.25, 'mINP': 50.0}
    comparison = compare_with_paper(BASELINE, measured)
    assert comparison.paper == {'R1': result['Metrics']['R1'], 'mAP': result['Metrics']['mAP']}  # 94.1, 85.7
    assert comparison.difference == pytest.approx({'R1': 90.0 - 94.1, 'mAP': 80.25 - 85.7})
    table = comparison.table().splitlines()
    assert table[0] == '| row | R1 | R5 | mAP | mINP |'
    assert table[2] == '| measured | 90.00 | 96.50 | 80.25 | 50.00 |'
    assert table[3] == f'| paper ({result["Dataset"]}) | 94.10 | - | 85.70 | - |'
    assert table[4] == '| difference | -4.10 | - | -5.45 | - |'
    out = json.loads(json.dumps(comparison.as_json(model_selection={'rule': 'last'})))
    assert {k: out[k] for k in measured} == measured  # the measured metrics stay at the top level
    assert out['paper'] == {'R1': 94.1, 'mAP': 85.7} and out['paper_difference']['mAP'] == pytest.approx(-5.45)
    assert out['paper_source'] == {'-': 'configs/baseline/metafile.yml (baseline_market1501): Market-1501'}
    assert out['model_selection'] == {'rule': 'last'}


def test_relative_and_absolute_config_paths_find_the_same_entry(monkeypatch):
    monkeypatch.chdir(REPO)
    assert find_model_entry('configs/irra_rstpreid.py')[0].name == 'irra_rstpreid'
    paper = compare_with_paper(osp.join(REPO, 'configs', 'irra_rstpreid.py'), {'R1': 55.0, 'mAP': 40.0}).paper
    assert paper == {'R1': 60.2, 'mAP': 47.17}


def test_demo_and_unknown_configs_print_their_own_numbers_only(tmp_path):
    demo = compare_with_paper(osp.join(REPO, 'configs', 'demo', 'baseline_market1501_demo.py'), {'R1': 70.0})
    assert demo.paper == {} and 'CPU demo of configs/baseline_market1501.py' in demo.note
    assert 'paper' not in demo.table().split('\npaper numbers:')[0]
    assert demo.table().splitlines()[2] == '| measured | 70.00 |'
    outside = tmp_path / 'my_config.py'
    outside.write_text("_base_ = []\n")
    assert compare_with_paper(str(outside), {'R1': 1.0}).paper == {}
    unnamed = compare_with_paper(osp.join(REPO, 'configs', 'baseline_msmt17.py'), {'R1': 1.0})  # entry, no Results
    assert unnamed.paper == {} and 'no Results' in unnamed.note


@pytest.fixture(scope='module')
def two_set_repo(tmp_path_factory):
    """A repository copy whose baseline entry reports Market-1501 and DukeMTMC-reID."""
    root = tmp_path_factory.mktemp('repo')
    shutil.copy(osp.join(REPO, 'model-index.yml'), root)
    shutil.copytree(osp.join(REPO, 'configs'), root / 'configs')
    path = root / 'configs' / 'baseline' / 'metafile.yml'
    data = yaml.safe_load(path.read_text())
    entry = next(m for m in data['Models'] if m['Name'] == 'baseline_market1501')
    entry['Results'].append({'Task': 'Person Re-identification', 'Dataset': 'DukeMTMC-reID (cross-domain)',
                             'Metrics': {'R1': 41.0, 'mAP': 25.5}})
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return root


def test_multi_set_keys_are_matched_by_data_set_name(two_set_repo):
    config = str(two_set_repo / 'configs' / 'baseline_market1501.py')
    measured = {'market1501/R1': 90.0, 'market1501/mAP': 80.0, 'dukemtmcreid/R1': 45.0, 'dukemtmcreid/mAP': 20.0,
                'cuhk03np/R1': 10.0, 'mean/R1': 48.33, 'mean/mAP': 50.0}
    comparison = compare_with_paper(config, measured)
    assert comparison.paper == {'market1501/R1': 94.1, 'market1501/mAP': 85.7,
                                'dukemtmcreid/R1': 41.0, 'dukemtmcreid/mAP': 25.5}
    assert comparison.difference['dukemtmcreid/mAP'] == pytest.approx(-5.5)
    assert 'market1501 <- Market-1501' in comparison.note and 'dukemtmcreid <- DukeMTMC-reID' in comparison.note
    assert 'no paper number for cuhk03np' in comparison.note  # said, not guessed; mean never gets one
    rows = comparison.table().splitlines()
    assert rows[0] == '| set | row | R1 | mAP |'
    assert '| dukemtmcreid | paper (DukeMTMC-reID (cross-domain)) | 41.00 | 25.50 |' in rows
    assert '| dukemtmcreid | difference | +4.00 | -5.50 |' in rows
    assert sum(r.startswith('| mean |') for r in rows) == 1 and sum(r.startswith('| cuhk03np |') for r in rows) == 1
