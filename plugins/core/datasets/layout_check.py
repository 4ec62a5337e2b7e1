"""Check the data of a config before anything else is built: data-layout errors in seconds, not after the model.

``Runner`` builds the model, wraps it, prints its hooks and only then (``Runner.train`` -> ``build_train_loop``)
builds the training set, so a wrong ``data_root`` or a zero-byte image is reported after all of that. A launcher
calls :func:`check_data_layouts` right after merging its config options instead: every data set of the loaders is
built once without its pipelines (no tokenizer, no transform, so nothing heavy is imported), which runs the layout
checks and the image-header checks of :class:`~plugins.core.datasets.base.ReIDBaseDataset`.
"""
from mmengine.registry import init_default_scope

from plugins.core.data.tokenizers.prepare_word_vocabulary import without_pipelines
from .base import ReIDBaseDataset

LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def check_data_layouts(cfg, loaders=LOADERS):
    """Build every data set of ``cfg``'s ``loaders`` without pipelines; the first bad layout or image raises.

    Args:
        cfg (mmengine.Config): the run's config (not changed).
        loaders (Sequence[str]): loader keys to check; absent or ``None`` ones are skipped.

    Raises:
        FileNotFoundError | ValueError | OSError: what the data set raises: the path, the expected layout, the
        unreadable images.
    """
    from mmpretrain.registry import DATASETS
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    for key in loaders:
        loader = cfg.get(key)
        if loader is None or loader.get('dataset') is None:
            continue
        dataset_cfg = without_pipelines(loader['dataset'])
        for node in _dataset_nodes(dataset_cfg):
            cls = DATASETS.get(node['type']) if isinstance(node.get('type'), str) else node.get('type')
            if isinstance(cls, type) and issubclass(cls, ReIDBaseDataset):
                # quiet: the run's own build prints the statistics, the caption summary and the tiny-image warning
                node.update(verbose=False, min_image_side=0)
        DATASETS.build(dataset_cfg)


def _dataset_nodes(cfg):
    """``cfg`` and the data set configs nested in it (``dataset`` / ``datasets`` of wrappers)."""
    stack, nodes = [cfg], []
    while stack:
        node = stack.pop()
        nodes.append(node)
        for key in ('dataset', 'datasets'):
            child = node.get(key)
            stack.extend(child if isinstance(child, (list, tuple)) else [child] if child is not None else [])
    return nodes
