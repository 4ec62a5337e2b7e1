"""Parser shared by the text-image person search data sets stored as one JSON list of records + ``imgs/``."""
import json
import os.path as osp
from collections import OrderedDict

from mmengine.dataset import Compose
from mmengine.logging import MMLogger

from plugins.core.data.tokenizers.caption_report import summarize_captions

from .base import ReIDBaseDataset


class TextImageDataset(ReIDBaseDataset):
    """JSON records ``{id, split, captions: [str, ...], <PATH_KEY>: relative image path}`` + ``imgs/``.

    - ``split='train'``: one sample per (image, caption) with ``caption`` and ``weak_caption`` (a caption of
      another image of the same person when there is one, else another caption of the same image; chosen
      deterministically), ids relabelled 0..N-1.
    - other splits: every image (``modality='image'``, ``split_role='gallery'``) followed by every caption
      (``modality='text'``, ``split_role='query'``, no ``img_path``), original ids.

    A test set mixes images and captions, which need different transforms: caption samples go through
    ``text_pipeline`` when one is given (e.g. ``[tokenizer, PackReIDInputs]``), image samples through
    ``pipeline``.

    Subclasses set :attr:`ANN_FILES` (accepted annotation file names, first found wins), :attr:`PATH_KEY`
    and :attr:`SPLITS`.

    Args:
        data_root (str): data set root (see :attr:`LAYOUT`).
        split (str): one of :attr:`SPLITS`.
        pipeline (list[dict | callable]): transforms of image samples (training samples carry a caption too).
        text_pipeline (list[dict | callable], optional): transforms of caption-only samples
            (``modality='text'``); default: ``pipeline``.
        **kwargs: see :class:`~plugins.core.datasets.base.ReIDBaseDataset`.
    """

    ANN_FILES = ()
    PATH_KEY = 'file_path'
    IMG_DIR = 'imgs'

    def __init__(self, data_root, split='train', pipeline=(), text_pipeline=None, **kwargs):
        self.text_pipeline = None if text_pipeline is None else Compose(list(text_pipeline))
        super().__init__(data_root, split=split, pipeline=pipeline, **kwargs)

    def prepare_data(self, idx):
        """Run the caption pipeline on caption samples (when given), the image pipeline on the others."""
        data_info = self.get_data_info(idx)
        if self.text_pipeline is not None and data_info['modality'] == 'text':
            return self.text_pipeline(data_info)
        return self.pipeline(data_info)

    def load_data_list(self):
        """Load as :class:`ReIDBaseDataset` does, then log one line per caption tokenizer of the pipelines: how many
        captions it cuts at its max length, the non-ASCII characters, and (word vocabulary) the unknown words."""
        data_list = super().load_data_list()
        if self.verbose:
            captions = [info['caption'] for info in data_list if 'caption' in info]
            where = f'{type(self).__name__} split {self.split!r}'
            for tokenizer in self.caption_tokenizers():
                MMLogger.get_current_instance().info(summarize_captions(captions, tokenizer, where))
        return data_list

    def caption_tokenizers(self):
        """The transforms of the caption pipeline (``text_pipeline`` when given, else ``pipeline``) that can
        report on captions (``caption_report``)."""
        pipeline = self.text_pipeline if self.text_pipeline is not None and not self.is_train else self.pipeline
        return [t for t in getattr(pipeline, 'transforms', []) if callable(getattr(t, 'caption_report', None))]

    @property
    def required_keys(self):
        return ('id', 'split', 'captions', self.PATH_KEY)

    def find_ann_file(self):
        """Path of the first existing file of :attr:`ANN_FILES` under ``data_root``."""
        for name in self.ANN_FILES:
            path = osp.join(self.data_root, name)
            if osp.isfile(path):
                return path
        raise self.layout_error(osp.join(self.data_root, self.ANN_FILES[0]),
                                'annotation file (' + ' or '.join(self.ANN_FILES) + ')')

    def read_json_list(self, path):
        """The JSON list of records in ``path``; invalid JSON or another top-level value is an error naming it."""
        with open(path) as f:
            try:
                records = json.load(f)
            except ValueError as err:
                raise ValueError(f'{type(self).__name__}: {path} is not valid JSON ({err})') from None
        if not isinstance(records, list):
            raise ValueError(f'{type(self).__name__}: {path} must hold a JSON list of records')
        return records

    def load_records(self):
        """Validated records of the chosen split: ``[(record index, pid, absolute image path, captions)]``."""
        ann_file = self.find_ann_file()
        img_dir = self.require_dir(osp.join(self.data_root, self.IMG_DIR), 'image folder')
        records = self.read_json_list(ann_file)
        selected = []
        for idx, record in enumerate(records):
            self._check_record(ann_file, idx, record)
            if self.record_split(ann_file, idx, record) != self.split:
                continue
            img_path = osp.join(img_dir, record[self.PATH_KEY])
            if not osp.isfile(img_path):
                raise FileNotFoundError(f'{type(self).__name__}: {ann_file} record {idx}: image {img_path} '
                                        f'does not exist')
            selected.append((idx, int(record['id']), img_path, [c.strip() for c in record['captions']]))
        return selected

    def record_split(self, ann_file, idx, record):
        """The split a (checked) record belongs to: its ``split`` key (a data set without one derives it)."""
        return record['split']

    def _check_record(self, ann_file, idx, record):
        where = f'{type(self).__name__}: {ann_file} record {idx}'
        if not isinstance(record, dict):
            raise ValueError(f'{where} is not a JSON object')
        for key in self.required_keys:
            if key not in record:
                raise KeyError(f'{where} has no key {key!r} (required keys: {list(self.required_keys)})')
        captions = record['captions']
        if isinstance(captions, str) or not isinstance(captions, list) or not captions:
            raise ValueError(f'{where}: "captions" must be a non-empty list of strings')
        for j, caption in enumerate(captions):
            if not isinstance(caption, str) or not caption.strip():
                raise ValueError(f'{where}: caption {j} is empty')

    def parse_samples(self):
        records = self.load_records()
        return self._train_samples(records) if self.is_train else self._test_samples(records)

    @staticmethod
    def _train_samples(records):
        by_pid = OrderedDict()
        for rec in records:
            by_pid.setdefault(rec[1], []).append(rec)
        samples = []
        for _, pid, img_path, captions in records:
            same_id = by_pid[pid]
            position = next(i for i, r in enumerate(same_id) if r[2] == img_path)
            for j, caption in enumerate(captions):
                if len(same_id) > 1:  # a caption of the next image of the same person
                    other = same_id[(position + 1) % len(same_id)][3]
                    weak = other[j % len(other)]
                else:  # only one image: another caption of it (or the caption itself)
                    weak = captions[(j + 1) % len(captions)]
                samples.append(dict(pid=pid, img_path=img_path, camid=-1, modality='image', split_role='train',
                                    caption=caption, weak_caption=weak))
        return samples

    @staticmethod
    def _test_samples(records):
        images = [dict(pid=pid, img_path=img_path, camid=-1, modality='image', split_role='gallery')
                  for _, pid, img_path, _ in records]
        texts = [dict(pid=pid, caption=caption, camid=-1, modality='text', split_role='query')
                 for _, pid, _, captions in records for caption in captions]
        return images + texts
