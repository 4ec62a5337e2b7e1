"""``--resume`` reads this work dir's ``last_checkpoint`` and never resumes another work dir's file."""
import pytest

from plugins.core.utils.work_dir import ResumeError, resolve_last_checkpoint


def _work_dir(tmp_path, recorded, *files):
    work = tmp_path / 'work'
    work.mkdir(exist_ok=True)
    for name in files:
        (work / name).write_bytes(b'x')
    if recorded is not None:
        (work / 'last_checkpoint').write_text(recorded)
    return work


def test_nothing_to_resume_without_last_checkpoint(tmp_path):
    assert resolve_last_checkpoint(_work_dir(tmp_path, None)) == (None, None)


def test_own_checkpoint_is_resumed_silently(tmp_path):
    work = _work_dir(tmp_path, str(tmp_path / 'work' / 'epoch_3.pth') + '\n', 'epoch_3.pth')
    assert resolve_last_checkpoint(str(work)) == (str(work / 'epoch_3.pth'), None)


def test_checkpoint_hook_out_dir_is_not_outside(tmp_path):
    (tmp_path / 'ckpts' / 'work').mkdir(parents=True)
    (tmp_path / 'ckpts' / 'work' / 'epoch_1.pth').write_bytes(b'x')
    work = _work_dir(tmp_path, str(tmp_path / 'ckpts' / 'work' / 'epoch_1.pth'))
    assert resolve_last_checkpoint(str(work), out_dir=str(tmp_path / 'ckpts')) == (
        str(tmp_path / 'ckpts' / 'work' / 'epoch_1.pth'), None)


@pytest.mark.parametrize('recorded,fragment', [('', 'last_checkpoint is empty'),
                                               ('{work}/epoch_9.pth', 'epoch_9.pth, which does not exist'),
                                               ('{tmp}/elsewhere/epoch_9.pth', 'resuming would continue another run')])
def test_unusable_last_checkpoint_is_refused_listing_the_checkpoints_here(tmp_path, recorded, fragment):
    work = _work_dir(tmp_path, recorded.format(work=tmp_path / 'work', tmp=tmp_path), 'epoch_1.pth')
    with pytest.raises(ResumeError, match=fragment) as err:
        resolve_last_checkpoint(str(work))
    assert 'epoch_1.pth' in str(err.value) and '--resume PATH' in str(err.value)
