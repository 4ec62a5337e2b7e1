"""``ReIDInferencer``: image / caption embeddings of a trained ReID model, outside the test loop."""
import copy
import os
import os.path as osp
from typing import List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.runner import Runner
from mmengine.utils import ProgressBar

from plugins.core.data.collate import reid_collate
from .loading import load_model
from .query_checks import caption_query_warnings, check_query_path, image_query_warnings

#: Loading transforms dropped from the image pipeline when the input is already a decoded array.
LOADING_TRANSFORMS = ('LoadReIDImage', 'LoadImageFromFile', 'mmpretrain.LoadReIDImage', 'mmcv.LoadImageFromFile')

ImageInput = Union[str, np.ndarray]


def find_test_dataset_cfg(cfg):
    """The innermost data set config of the test (else val) loader: the one that holds the pipelines.

    Wrappers (``RepeatDataset``, ``ConcatDataset`` ...) are walked through ``dataset`` / ``datasets[0]``.
    """
    loader = cfg.get('test_dataloader') or cfg.get('val_dataloader')
    if loader is None:
        raise KeyError('ReIDInferencer: the config has neither `test_dataloader` nor `val_dataloader`, so there is '
                       'no test pipeline to build')
    node = loader['dataset']
    while 'pipeline' not in node:
        child = node.get('dataset') or (node.get('datasets') or [None])[0]
        if child is None:
            raise KeyError(f'ReIDInferencer: no `pipeline` in the test data set config {dict(node)}')
        node = child
    return node


def _is_loading(transform_cfg):
    return isinstance(transform_cfg, dict) and transform_cfg.get('type') in LOADING_TRANSFORMS


class ReIDInferencer:
    """Embed images and captions with a ReID model, as its test loop would.

    Inputs go through the config's test pipelines (``test_dataloader.dataset.pipeline`` for images,
    ``text_pipeline`` for captions), ``reid_collate``, the model's data preprocessor and the model's
    ``embed_image`` / ``embed_text`` (the contract of :class:`~plugins.core.models.BaseReIDModel`: the
    ``pred_feature`` that ``predict`` writes and ``ReIDMetric`` ranks), so the embeddings are exactly those of
    ``tools/test.py``.

    Args:
        config (str | Config): config file or loaded config (copied, not changed).
        checkpoint (str, optional): checkpoint file; None keeps the random initialisation (tests only). The
            word vocabulary of SSAN / AXM-Net is the ``vocab.json`` next to it, as in ``tools/test.py``.
        device (str): ``'cpu'``, ``'cuda'``, ``'cuda:1'`` ...
        cfg_options (dict, optional): config overrides merged before anything is built.

    Example:
        >>> inferencer = ReIDInferencer('configs/irra_cuhkpedes.py', 'work_dirs/irra/best.pth')
        >>> gallery = inferencer.extract_images(['a.jpg', 'b.jpg'])          # (2, 512)
        >>> query = inferencer.extract_texts(['a man in a red jacket'])      # (1, 512)
    """

    def __init__(self, config: Union[str, os.PathLike, Config], checkpoint: Optional[str] = None, device: str = 'cpu',
                 cfg_options: Optional[dict] = None):
        self.device = torch.device(device)
        # the one offline load path: the vocabulary comes from the checkpoint's folder (as tools/test.py), strict
        self.model, self.cfg = load_model(config, checkpoint, device, cfg_options)
        dataset_cfg = find_test_dataset_cfg(self.cfg)
        pipeline = list(dataset_cfg['pipeline'])
        self.image_pipeline = Compose(pipeline)
        self.array_pipeline = Compose([t for t in pipeline if not _is_loading(t)])
        text_pipeline = dataset_cfg.get('text_pipeline')
        self.text_pipeline = Compose(list(text_pipeline)) if text_pipeline else None

    @property
    def has_text(self) -> bool:
        """Whether captions can be embedded (the config has a caption test pipeline)."""
        return self.text_pipeline is not None

    # ------------------------------------------------------------------ per-sample preparation
    def _image_sample(self, image: ImageInput, modality: str):
        """Pipeline output of one image file path or decoded BGR uint8 (H, W, 3) array."""
        meta = dict(gt_label=-1, camid=-1, modality=modality, split_role='query')
        if isinstance(image, np.ndarray):
            if image.ndim not in (2, 3):
                raise ValueError(f'ReIDInferencer: an image array must be (H, W) or (H, W, C), got {image.shape}')
            return self.array_pipeline(dict(meta, img=image, img_shape=image.shape[:2], ori_shape=image.shape[:2]))
        image = str(image)
        if not osp.isfile(image):
            raise FileNotFoundError(f'ReIDInferencer: image not found: {image}')
        return self.image_pipeline(dict(meta, img_path=image))

    def _text_sample(self, caption: str):
        if not isinstance(caption, str) or not caption.strip():
            raise ValueError(f'ReIDInferencer: a caption must be a non-empty str, got {caption!r}')
        return self.text_pipeline(dict(caption=caption, gt_label=-1, camid=-1, modality='text',
                                       split_role='query'))

    # ------------------------------------------------------------------ extraction
    @torch.no_grad()
    def _extract(self, items: Sequence, prepare, embed, batch_size: int) -> torch.Tensor:
        """Run ``prepare`` on each item, batch, preprocess, ``embed(inputs, data_samples)`` and return the
        features (N, D) on the CPU."""
        if batch_size < 1:
            raise ValueError(f'ReIDInferencer: batch_size must be >= 1, got {batch_size}')
        items = list(items)
        if not items:
            raise ValueError('ReIDInferencer: nothing to extract (empty input list)')
        # a bar only when there is more than one batch: one-shot calls stay quiet
        bar = ProgressBar(len(items)) if len(items) > batch_size else None
        feats: List[torch.Tensor] = []
        for start in range(0, len(items), batch_size):
            batch = [prepare(item) for item in items[start:start + batch_size]]
            data = self.model.data_preprocessor(reid_collate(batch), False)
            feats.append(embed(data['inputs'], data['data_samples']).float().cpu())
            if bar is not None:
                bar.update(len(batch))
        if bar is not None:
            print()  # the bar leaves the cursor at the end of its line
        return torch.cat(feats)

    def extract_images(self, images: Union[ImageInput, Sequence[ImageInput]], batch_size: int = 32,
                       modality: str = 'image') -> torch.Tensor:
        """Embed images.

        Args:
            images (str | ndarray | list): image file paths and/or decoded images (BGR uint8 (H, W, 3), as
                ``cv2.imread`` / mmcv load them).
            batch_size (int): images per forward pass.
            modality (str): ``modality`` of the samples (``'visible'`` / ``'infrared'`` for the
                visible-infrared methods, which embed the two differently).

        Returns:
            Tensor: float32 features, shape (N, D), in input order (not normalised: the model's test feature).
        """
        if isinstance(images, (str, np.ndarray)):
            images = [images]
        return self._extract(images, lambda img: self._image_sample(img, modality), self.model.embed_image,
                             batch_size)

    def extract_texts(self, captions: Union[str, Sequence[str]], batch_size: int = 32) -> torch.Tensor:
        """Embed captions (text-image methods: models with ``embed_text``).

        Args:
            captions (str | list[str]): natural-language descriptions.
            batch_size (int): captions per forward pass.

        Returns:
            Tensor: float32 features, shape (N, D), in input order.

        Raises:
            ValueError: the method has no text tower (no ``embed_text``, or no ``text_pipeline`` in its test data
                set config).
        """
        if not (self.has_text and self.model.has_text_tower):
            raise ValueError(f'ReIDInferencer: {type(self.model).__name__} has no text tower (its config has no '
                             f'`test_dataloader.dataset.text_pipeline` or the model no `embed_text`); captions can '
                             f'only be embedded by a text-image method')
        if isinstance(captions, str):
            captions = [captions]
        self.check_not_paths(captions)
        return self._extract(captions, self._text_sample, self.model.embed_text, batch_size)

    # ------------------------------------------------------------------ query validation
    @staticmethod
    def check_not_paths(captions: Sequence[str]):
        """Refuse a caption that looks like a missing image path (``.../0049000.jpgg``): embedded as text it
        would still get a confident ranking.

        Raises:
            FileNotFoundError: naming the first such caption.
        """
        for caption in captions:
            if isinstance(caption, str):
                check_query_path(caption, 'ReIDInferencer: caption')

    def query_warnings(self, image: Optional[ImageInput] = None, caption: Optional[str] = None) -> List[str]:
        """Why a query cannot give a meaningful ranking (empty when it can), without embedding it.

        Args:
            image (str | ndarray, optional): image query: warned when smaller than
                :data:`~plugins.core.apis.query_checks.MIN_IMAGE_SIDE` px on a side or blank.
            caption (str, optional): caption query: warned when no word of it is known to the tokenizer of the
                test text pipeline (all ``<unk>``).

        Returns:
            list[str]: one sentence per problem.
        """
        warnings = [] if image is None else image_query_warnings(image)
        if caption is not None:
            transforms = self.text_pipeline.transforms if self.has_text else []
            warnings += caption_query_warnings(caption, transforms)
        return warnings

    @torch.no_grad()
    def extract_test_set(self) -> List[dict]:
        """Features and labels of every sample of the config's test (else val) loader, as the test loop sees them.

        Returns:
            list[dict]: one record per sample, in loader order: ``feature`` (D,) float32 CPU tensor, ``pid``,
            ``camid``, ``modality``, ``split_role``, ``sample_idx`` and, when present, ``img_path`` / ``caption``
            (the keys ``ReIDMetric`` ranks with).
        """
        loader = Runner.build_dataloader(copy.deepcopy(self.cfg.get('test_dataloader') or self.cfg.val_dataloader))
        bar = ProgressBar(len(loader.dataset))
        records = []
        for data_batch in loader:
            for sample in self.model.test_step(data_batch):
                records.append(dict(feature=sample.pred_feature.reshape(-1).float().cpu(),
                                    pid=int(sample.gt_label.view(-1)[0]), camid=int(sample.get('camid', -1)),
                                    modality=sample.get('modality', 'image'), split_role=sample.get('split_role'),
                                    sample_idx=sample.get('sample_idx'), img_path=sample.get('img_path'),
                                    caption=sample.get('caption')))
                bar.update()
        print()
        return records
