"""One atomic-write helper for files and folders: normal permissions, a PID in the temporary name, nothing left
behind on failure, and no other copy of the pattern in plugins/ or tools/."""
import os
import os.path as osp
import re
import stat

import pytest

from plugins.core.utils.atomic_write import atomic_dir, atomic_write, temporary_path
from tests.helpers import REPO


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_temporary_name_carries_the_pid(tmp_path):
    assert temporary_path(tmp_path / 'epoch_1.pth') == str(tmp_path / f'.epoch_1.pth.{os.getpid()}.tmp')


def test_file_is_complete_with_normal_permissions(tmp_path, umask_022):
    path = tmp_path / 'sub' / 'vocab.json'
    with atomic_write(path, 'w', encoding='utf-8') as f:
        f.write('{"a": 1}')
        assert not path.exists() and os.path.isfile(temporary_path(path))  # the final name appears at the end
    assert path.read_text() == '{"a": 1}'
    assert mode(path) == 0o644
    assert os.listdir(path.parent) == ['vocab.json']


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / 'last_checkpoint'
    path.write_bytes(b'old')
    with pytest.raises(RuntimeError, match='disk full'):
        with atomic_write(path, 'wb') as f:
            f.write(b'half of the new')
            raise RuntimeError('disk full')
    assert path.read_bytes() == b'old' and os.listdir(tmp_path) == ['last_checkpoint']


def test_stale_temporary_of_this_process_is_replaced(tmp_path):
    path = tmp_path / 'a.txt'
    with open(temporary_path(path), 'w') as f:
        f.write('left by an earlier failure of this process')
    with atomic_write(path, 'w') as f:
        f.write('new')
    assert path.read_text() == 'new' and os.listdir(tmp_path) == ['a.txt']


@pytest.mark.parametrize('args', [(b'data', 'out.bin'), ('out.bin', 'r'), ('out.bin', 'a')])
def test_misuse_is_refused_at_the_call(args):
    # the old helper was atomic_write(data, path): called that way the new one must not silently write nothing
    with pytest.raises(ValueError, match='atomic_write'):
        atomic_write(*args)


def test_folder_is_complete_with_normal_permissions(tmp_path, umask_022):
    out = tmp_path / 'index'
    with atomic_dir(out) as tmp:
        assert tmp == temporary_path(out) and not out.exists()
        with open(osp.join(tmp, 'features.npy'), 'wb') as f:
            f.write(b'123')
    assert (out / 'features.npy').read_bytes() == b'123'
    assert mode(out) == 0o755 and os.listdir(tmp_path) == ['index']


def test_folder_replaces_an_old_one_and_failure_keeps_it(tmp_path):
    out = tmp_path / 'cuhk-pedes'
    with atomic_dir(out) as tmp:
        open(osp.join(tmp, 'v1'), 'w').close()
    with atomic_dir(out) as tmp:
        open(osp.join(tmp, 'v2'), 'w').close()
    assert os.listdir(out) == ['v2'] and os.listdir(tmp_path) == ['cuhk-pedes']
    with pytest.raises(KeyboardInterrupt):
        with atomic_dir(out) as tmp:
            open(osp.join(tmp, 'v3'), 'w').close()
            raise KeyboardInterrupt
    assert os.listdir(out) == ['v2'] and os.listdir(tmp_path) == ['cuhk-pedes']


def test_word_vocabulary_file_has_normal_permissions(tmp_path, umask_022):
    from plugins.core.data.tokenizers import WordVocabulary
    path = tmp_path / 'vocab.json'
    WordVocabulary.build(['a red coat', 'a red bag']).save(str(path))
    assert mode(path) == 0o644


#: what a hand-written atomic write looks like: a rename into place or a private temporary file/folder
HAND_WRITTEN = re.compile(r'os\.replace\(|os\.rename\(|tempfile\.mkstemp|tempfile\.mkdtemp|\.tmp[\'"-]')


def test_no_other_copy_of_the_atomic_write_pattern():
    helper = osp.join(REPO, 'plugins', 'core', 'utils', 'atomic_write.py')
    copies = []
    for folder in ('plugins', 'tools'):
        for dirpath, _, files in os.walk(osp.join(REPO, folder)):
            for name in files:
                path = osp.join(dirpath, name)
                if name.endswith('.py') and path != helper:
                    with open(path) as f:
                        copies += [f'{osp.relpath(path, REPO)}:{i}' for i, line in enumerate(f, 1)
                                   if HAND_WRITTEN.search(line)]
    assert not copies, 'write through plugins.core.utils.atomic_write instead: ' + ', '.join(copies)


def test_full_disk_at_fsync_names_the_file_and_the_free_space_and_keeps_the_old_version(tmp_path, monkeypatch):
    import errno
    from plugins.core.utils.atomic_write import DiskFullError
    path = tmp_path / 'epoch_1.pth'
    path.write_bytes(b'old')

    def full_disk_fsync(fd):  # delayed allocation: the disk reports ENOSPC when the data is flushed
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, 'fsync', full_disk_fsync)
    with pytest.raises(DiskFullError, match=rf'while writing {path} \(.* free of .*\).*epoch_1.pth keeps its '
                                            r'previous version') as err:
        with atomic_write(path, 'wb', hint=' (try max_keep_ckpts=1)') as f:
            f.write(b'new')
    assert err.value.errno == errno.ENOSPC and str(err.value).endswith('(try max_keep_ckpts=1)')
    assert path.read_bytes() == b'old' and os.listdir(tmp_path) == ['epoch_1.pth']
