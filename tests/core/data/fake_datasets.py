"""Tiny in-memory datasets with the ``get_data_info`` interface of mmengine's BaseDataset."""


class InfoListDataset:
    """A dataset that only knows its ``data_info`` dicts (no image is ever loaded)."""

    def __init__(self, infos):
        self.infos = list(infos)

    def __len__(self):
        return len(self.infos)

    def get_data_info(self, idx):
        return dict(self.infos[idx])

    def __getitem__(self, idx):
        raise AssertionError('samplers must not load samples')


def image_dataset(counts):
    """One sample per image; ``counts[pid]`` images of person ``pid``."""
    return InfoListDataset(dict(gt_label=pid, img_path=f'{pid}_{i}.jpg') for pid, n in enumerate(counts)
                           for i in range(n))


def cross_modality_dataset(visible_counts, infrared_counts):
    """Visible images of every id first, then infrared ones (as SYSU-MM01's parser lists cameras)."""
    infos = [dict(gt_label=pid, modality='visible') for pid, n in enumerate(visible_counts) for _ in range(n)]
    infos += [dict(gt_label=pid, modality='infrared') for pid, n in enumerate(infrared_counts) for _ in range(n)]
    return InfoListDataset(infos)
