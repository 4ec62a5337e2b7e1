"""README's demo numbers have one source, docs/demo_results.md (written by tools/demo_results.py), issue 33."""
import os.path as osp
import re

from tests.helpers import REPO, load_tool


def _read(name):
    with open(osp.join(REPO, name)) as f:
        return f.read()


def test_readme_demo_results_are_those_of_docs_demo_results():
    tool = load_tool('demo_results')
    results = _read('docs/demo_results.md')
    numbers, readme = tool.demo_numbers(results), _read('README.md')
    rows = [m for m in map(tool.README_ROW.match, readme.splitlines()) if m]
    assert len(rows) >= 8, 'the README table of demo results was not found'
    for row in rows:
        assert {'R1': row['r1'], 'mAP': row['map']} == numbers[row['name']], row.group(0)
    # no other demo R1 / mAP pair anywhere in the README (e.g. a second measurement in the set-up lines)
    pairs = set(re.findall(r'R1 ([\d.]+)\s*[,/]\s*mAP ([\d.]+)', readme))
    assert pairs <= {(n['R1'], n['mAP']) for n in numbers.values()} | _published_pairs(readme), pairs


def _published_pairs(readme):
    """R1 / mAP pairs of the papers (the "published" column), which are not demo numbers."""
    published = set()
    for line in readme.splitlines():
        cells = line.split('|')
        if len(cells) > 3:
            published |= set(re.findall(r'R1 ([\d.]+)\s*[,/]\s*mAP ([\d.]+)', cells[2]))
    return published


def test_update_readme_rewrites_a_stale_row_and_nothing_else():
    tool = load_tool('demo_results')
    results = _read('docs/demo_results.md')
    readme = _read('README.md')
    name = next(iter(tool.demo_numbers(results)))
    rows = [(line, tool.README_ROW.match(line)) for line in readme.split('\n')]
    stale = '\n'.join(f'{m.group(1)}R1 1.0, mAP 2.0{m["rest"]}' if m and m['name'] == name else line
                      for line, m in rows)
    assert stale != readme
    assert tool.update_readme(stale, results) == readme
