"""``--cfg-options`` values of this repository's tools: MMEngine's syntax, spaces kept, plain usage errors."""
import argparse

import pytest
from mmengine.config import DictAction

from plugins.core.utils.config import CfgOptionsAction, parse_option_value


@pytest.mark.parametrize('text', ['1,2,3', '[a, b, c]', '[(1, 2, 3), [a, b], c]', 'None', 'true', 'False', '1e-3',
                                  '7', 'x', '[]', '[1,2,]', '(1,)', '[[1,2],[3]]', '', '[ 1 , 2 ]'])
def test_values_without_inner_spaces_read_as_mmengine_reads_them(text):
    ours, mmengine = parse_option_value(text), DictAction._parse_iterable(text)
    assert ours == mmengine and type(ours) is type(mmengine)


@pytest.mark.parametrize('text,value', [('/data/my set', '/data/my set'), ('[a b, c]', ['a b', 'c']),
                                        ('"/data/a,b"', '/data/a,b'), ("'x y'", 'x y'), ('[1],[2]', [[1], [2]])])
def test_spaces_are_kept_and_quotes_make_a_string(text, value):
    assert parse_option_value(text) == value


def _parser():
    parser = argparse.ArgumentParser(prog='train.py', exit_on_error=False)
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction)
    return parser


def test_the_action_merges_entries_and_keeps_the_spaces():
    args = _parser().parse_args(['--cfg-options', 'data_root=/data/my set', 'model.num_classes=3', 'a=x=y'])
    assert args.cfg_options == {'data_root': '/data/my set', 'model.num_classes': 3, 'a': 'x=y'}


@pytest.mark.parametrize('entry,fragment', [('k=(1]', "']' at position 2 closes nothing"),
                                            ('k=1)', "')' at position 1 closes nothing"),
                                            ('set', '`set` is not key=value')])
def test_malformed_entries_are_usage_errors_naming_the_entry(entry, fragment):
    with pytest.raises(argparse.ArgumentError, match=r'argument --cfg-options: .*' + fragment.replace('(', r'\(')
                       .replace(')', r'\)').replace('[', r'\[').replace(']', r'\]')):
        _parser().parse_args(['--cfg-options', entry])
