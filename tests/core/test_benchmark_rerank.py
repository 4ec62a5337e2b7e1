"""The re-ranking benchmark section: its two evaluators agree, and a child reports its own peak memory."""
import pytest

from plugins.core.benchmark.rerank import measure_in_this_process, run_child


def result_of(capsys, which):
    measure_in_this_process(which, 25, 150, 32, 12)
    out = capsys.readouterr().out.split('RESULT')[1]
    seconds, rerank_seconds, r1, mAP, rerank_cpu = (float(x) for x in out.split()[:5])
    assert int(out.split()[6]) > 0  # PEAK_KIB: its own VmHWM
    assert 0 < rerank_seconds <= seconds and rerank_cpu > 0
    return r1, mAP


def test_plugin_and_torchreid_evaluators_agree(capsys):
    r1, mAP = result_of(capsys, 'plugin')
    ref_r1, ref_mAP = result_of(capsys, 'torchreid')
    assert r1 == pytest.approx(ref_r1, abs=1e-6) and mAP == pytest.approx(ref_mAP, abs=1e-6)
    assert 0.2 < mAP < 1  # the synthetic identities are found, far above chance (1 / 12)


def test_child_reports_its_result_peak_and_cpu():
    seconds, _, r1, mAP, peak, cpu, rerank_cpu = run_child('plugin', 10, 60, 8, 6)
    assert 0 < seconds and 0 <= r1 <= 1 and 0 < mAP <= 1
    assert 0.05 < peak < 8 and cpu > rerank_cpu > 0  # GiB: at least an interpreter with torch


def test_child_peak_is_its_own_not_the_parents():
    """A child forked from a large benchmark process (the market section held 2.5 GiB) reported that size: Linux
    keeps the pre-exec high-water mark in ``ru_maxrss``. The peak must be the child's own."""
    hold = bytearray(1536 * 2**20)  # 1.5 GiB, touched below so it is resident
    for i in range(0, len(hold), 4096):
        hold[i] = 1
    peak = run_child('plugin', 10, 60, 8, 6)[4]
    del hold
    assert peak < 1.2, f'the child reported {peak:.2f} GiB: the parent\'s resident memory, not its own'
