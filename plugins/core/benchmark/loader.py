"""Loader section: images per second the training pipelines deliver with 2 workers (demo images, real layouts)."""
import tempfile
import time

from .report import Section
from .train import case_config, case_label


def loader_section(args, state) -> Section:
    """Images per second of each case's training loader, next to its model step on this machine
    (``state.step_throughput``: recorded by the train section, measured here when it did not run)."""
    from mmengine.runner import Runner
    batches = 3 if args.quick else 10
    sec = Section(f'Training data loader, 2 workers ({batches} batches after the first)',
                  ['config', 'batch', 'images / s (2 workers)', 'model step images / s', 'loader / model'])
    for case in args.train_cases:
        with tempfile.TemporaryDirectory() as work_dir:
            cfg = case_config(args, case, 32 if args.quick else 64, 2, work_dir)
            loader = Runner.build_dataloader(cfg.train_dataloader, seed=args.seed)
            batches_done, images, seconds = 0, 0, 0.0
            iterator = iter(loader)
            next(iterator)  # worker start-up
            while batches_done < batches:
                start = time.perf_counter()
                try:
                    batch = next(iterator)
                except StopIteration:  # a small demo epoch: the persistent workers start the next one
                    iterator = iter(loader)
                    continue
                seconds += time.perf_counter() - start
                images += len(batch['data_samples'])
                batches_done += 1
            del iterator, loader
        rate = images / seconds
        model_rate = state.step_throughput.get(args, case)
        sec.rows.append([case_label(case), cfg.train_dataloader.batch_size, f'{rate:.0f}', f'{model_rate:.1f}',
                         f'{rate / model_rate:.0f} x'])
    sec.notes.append('the model column is this machine\'s training step (section train, CPU); on a GPU the step '
                     'is far faster: compare its images / s with the loader column.')
    return sec
