import logging
import os
import types

import pytest
import torch
import torch.distributed as torch_dist
import torch.multiprocessing as mp

from plugins.cal.hooks import MatchDistillHook
from plugins.core.hooks import TrainEpochHook

from ._tiny import batch, tiny_cal


def _runner(model, epoch=0, max_epochs=10):
    return types.SimpleNamespace(model=model, epoch=epoch, max_epochs=max_epochs,
                                 logger=logging.getLogger('test'))


def _iterate(hook, runner, matchings):
    for m in matchings:
        runner.model.last_matching = torch.tensor(m)
        hook.after_train_iter(runner, 0)


def test_counting_schedule_and_fixing():
    model = tiny_cal(kd_begin_epoch=1)
    hook = MatchDistillHook(count_begin_epoch=1, fix_epoch=3)
    epoch_hook = TrainEpochHook()
    runner = _runner(model)
    hook.before_run(runner)
    epoch_hook.before_train(runner)
    epoch_hook.before_train_epoch(runner)
    _iterate(hook, runner, [[1, 0, 2]] * 4)  # epoch 0: warm-up, not counted
    assert not model.kd_active and not hook.counts
    hook.after_train_epoch(runner)
    assert model.part_matching.tolist() == [0, 1, 2] and not hook.fixed
    runner.epoch = 1
    epoch_hook.before_train_epoch(runner)
    _iterate(hook, runner, [[2, 0, 1], [2, 0, 1], [0, 1, 2]])
    assert model.kd_active and model.train_epoch == 1
    hook.after_train_epoch(runner)
    assert model.part_matching.tolist() == [2, 0, 1] and not bool(model.matching_fixed)
    runner.epoch = 2
    _iterate(hook, runner, [[0, 1, 2]] * 2)
    hook.after_train_epoch(runner)  # 3 epochs done -> fixed on the most frequent: [0,1,2] 3x vs [2,0,1] 2x
    assert hook.fixed and bool(model.matching_fixed) and model.part_matching.tolist() == [0, 1, 2]
    runner.epoch = 3
    _iterate(hook, runner, [[2, 0, 1]] * 5)  # no counting after fixing
    hook.after_train_epoch(runner)
    assert dict(hook.counts) == {'2,0,1': 2, '0,1,2': 3} and model.part_matching.tolist() == [0, 1, 2]


def test_fixed_at_last_epoch_without_fix_epoch():
    model = tiny_cal()
    hook = MatchDistillHook()
    runner = _runner(model, epoch=1, max_epochs=2)
    _iterate(hook, runner, [[1, 2, 0]])
    hook.after_train_epoch(runner)
    assert hook.fixed and model.part_matching.tolist() == [1, 2, 0]


def test_counts_survive_checkpoint_round_trip(tmp_path):
    model = tiny_cal()
    hook = MatchDistillHook(fix_epoch=2)
    runner = _runner(model, epoch=1)
    _iterate(hook, runner, [[2, 1, 0], [2, 1, 0], [0, 1, 2]])
    hook.after_train_epoch(runner)
    checkpoint = dict(state_dict=model.state_dict())
    hook.before_save_checkpoint(runner, checkpoint)
    torch.save(checkpoint, tmp_path / 'ckpt.pth')
    loaded = torch.load(tmp_path / 'ckpt.pth', weights_only=True)

    new_model, new_hook = tiny_cal(), MatchDistillHook(fix_epoch=2)
    new_hook.after_load_checkpoint(_runner(new_model), loaded)
    new_model.load_state_dict(loaded['state_dict'])
    assert dict(new_hook.counts) == {'2,1,0': 2, '0,1,2': 1} and new_hook.fixed
    assert new_model.part_matching.tolist() == [2, 1, 0] and bool(new_model.matching_fixed)
    # the restored fixed matching drives predict
    inputs, data_samples = batch([0, 0], ['visible', 'infrared'])
    new_model.eval()
    feats = new_model(inputs, data_samples, mode='tensor').view(2, 4, -1)
    model.eval()
    torch.testing.assert_close(feats, model(inputs, data_samples, mode='tensor').view(2, 4, -1))


def _rank_worker(rank, world, init_file, out_dir):
    torch_dist.init_process_group('gloo', init_method=f'file://{init_file}', rank=rank, world_size=world)
    model = tiny_cal()
    hook = MatchDistillHook()
    runner = _runner(model)
    per_rank = [[[0, 1, 2], [1, 0, 2]], [[0, 1, 2], [2, 1, 0]]][rank]
    _iterate(hook, runner, per_rank)
    torch.save(hook.state_dict(), os.path.join(out_dir, f'rank{rank}.pth'))
    torch_dist.destroy_process_group()


@pytest.mark.slow
def test_counts_identical_across_ranks(tmp_path):
    # The matching is that of the global batch (the same on every rank), so a step counts once, as 1 process
    # counts it; should the ranks ever disagree (a float tie), all of them count rank 0's matching.
    mp.spawn(_rank_worker, args=(2, str(tmp_path / 'init'), str(tmp_path)), nprocs=2, join=True)
    expected = {'0,1,2': 1, '1,0,2': 1}
    for rank in range(2):
        assert torch.load(tmp_path / f'rank{rank}.pth', weights_only=True)['counts'] == expected


def test_hook_reads_the_model_matcher_and_does_not_replace_it():
    """The model owns its matching solver (a config or a subclass may give another); the hook only counts."""
    model = tiny_cal()

    def solver(weights):
        return torch.arange(weights.shape[0])
    model.part_matcher = solver
    MatchDistillHook().before_run(_runner(model))
    assert model.part_matcher is solver
    with pytest.raises(TypeError, match='CAL-like model .*part_matching'):
        MatchDistillHook().before_run(_runner(torch.nn.Linear(2, 2)))
