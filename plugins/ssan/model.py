"""SSAN: Semantically Self-Aligned Network for text-to-image part-aware person ReID (Ding et al., 2021)."""
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.registry import MODELS

from plugins.core import distributed
from plugins.core.models.base import BaseReIDModel
from .export import SSANImageExtractor, SSANTextExtractor
from .part_linear import PartwiseLinear
from .part_relation import PartRelationModule
from .text_encoder import BiLSTMTextEncoder
from .word_attention import WordAttentionModule

#: names of the three branches, in the order of their losses, similarities and ``pred_feature`` blocks
BRANCHES = ('global', 'local', 'relation')


class PartClassifier(nn.Module):
    """One linear identity classifier per part, shared by the image and the text features of that part.

    Args:
        num_parts (int): K (1 for the global branch).
        in_channels (int): feature dimension.
        num_classes (int): number of training identities.
    """

    def __init__(self, num_parts: int, in_channels: int, num_classes: int):
        super().__init__()
        self.fc = PartwiseLinear(num_parts, in_channels, num_classes, bias=True)
        nn.init.normal_(self.fc.weight, std=0.001)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        """(B, K, D) -> logits (B, K, num_classes)."""
        return self.fc(feats)


@MODELS.register_module()
class SSAN(BaseReIDModel):
    """Semantically Self-Aligned Network.

    Image: ResNet feature map F -> global max pooling + shared 1x1 projection W_g (v_g); K horizontal stripes,
    max-pooled and projected by the per-part W_l^k (v_l); the part relation module on v_l (v_n).
    Text: word embedding + BiLSTM word features E -> row-wise max pooling + W_g (t_g); the word attention
    module weights every word per part, then RMP + W_l^k (t_l); the same part relation module (t_n).
    W_g, W_l^k, the relation module and the identity classifiers are shared between the modalities.

    Following the official code, the part features v_l / t_l pass through LeakyReLU(0.25) (an in-place
    activation there also changes the features its losses and its test see).

    Losses (official weighting): ``L = L_id(g) + 0.5 (L_id(l) + L_id(n)) + L_cr(g) + 0.5 (L_cr(l) + L_cr(n))``,
    logged as ``loss_id_global``, ``loss_id_local``, ... with the weights already applied. The ID loss of a
    branch is ``sum_k (CE(img_k) + CE(txt_k)) / K``.

    Distributed training computes every loss over the global batch: the ID losses are means over the global
    batch (``CrossEntropyLabelSmoothLoss``), the ranking loss gathers the features of every rank and draws its
    negatives for the global batch, the word-embedding dropout draws its masks per caption of the global batch
    and the BatchNorms (backbone, relation module) are converted to global ones by the runner. Word attention
    and part relation act within one sample.

    Inference: ``pred_feature`` is ``[v_g/|v_g|, v_l/|v_l|, v_n/|v_n|]`` (image) or the same for the text, so
    the dot product of a caption's and an image's features equals ``S_g + S_l + S_n``, the score SSAN ranks by;
    every vector has norm sqrt(3), so cosine / euclidean ranking in ``ReIDMetric`` is the same.

    Args:
        backbone (dict): visual backbone returning a tuple of maps (last used), e.g. mmpretrain ``ResNet``.
        vocab_size (int): ids of the word embedding (ids < vocab_size, 0 = padding); ``WordVocabularyHook`` keeps
            at most this many words of the training captions.
        num_classes (int): number of training identities.
        in_channels (int, optional): channels C of the visual map; ``backbone.feat_dim`` or 2048 (512 for a
            ResNet-18/34) when omitted. Also the LSTM hidden size.
        embed_dims (int): word embedding dimension. Defaults to 512.
        feat_dims (int): D of the common space (global and part features). Defaults to 1024.
        relation_dims (int): dimension of the relation features v_n^k. Defaults to 512.
        num_parts (int): K. Defaults to 6.
        text_dropout (float): dropout on word embeddings. Defaults to 0.3.
        loss_rank (dict): ``CompoundRankingLoss`` config.
        loss_id (dict): per-feature ID loss config; plain cross-entropy (``epsilon=0``) as in the paper.
        branch_weights (Sequence[float]): weights of the global, local and relation branches, for both loss
            kinds. Defaults to (1, 0.5, 0.5).
        data_preprocessor, init_cfg (dict, optional): as in :class:`~plugins.core.models.base.BaseReIDModel`
            (``init_cfg``: e.g. a pretrained backbone).
    """

    #: ONNX export: no training-only classifiers in the graph; the text tower without the batch trimming
    image_extractor = SSANImageExtractor
    text_extractor = SSANTextExtractor

    def __init__(self,
                 backbone: dict,
                 vocab_size: Optional[int],
                 num_classes: int,
                 in_channels: Optional[int] = None,
                 embed_dims: int = 512,
                 feat_dims: int = 1024,
                 relation_dims: int = 512,
                 num_parts: int = 6,
                 text_dropout: float = 0.3,
                 loss_rank: dict = dict(type='CompoundRankingLoss', alpha=0.2, beta=0.1),
                 loss_id: dict = dict(type='CrossEntropyLabelSmoothLoss', epsilon=0.0),
                 branch_weights: Sequence[float] = (1.0, 0.5, 0.5),
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(num_classes, data_preprocessor, init_cfg)
        self.set_vocab_size(vocab_size)  # WordVocabularyHook keeps at most this many ids
        self.backbone = MODELS.build(backbone)
        if in_channels is None:
            depth = backbone.get('depth', 50)
            in_channels = getattr(self.backbone, 'feat_dim', None) or (512 if depth in (18, 34) else 2048)
        if len(branch_weights) != 3:
            raise ValueError(f'SSAN: branch_weights needs 3 values (global, local, relation), got {branch_weights}')
        self.num_parts = num_parts
        self.branch_weights = tuple(branch_weights)
        self.text_encoder = BiLSTMTextEncoder(vocab_size, embed_dims, in_channels, text_dropout)
        self.global_proj = PartwiseLinear(1, in_channels, feat_dims)   # W_g, shared by both modalities
        self.part_proj = PartwiseLinear(num_parts, in_channels, feat_dims)  # W_l^k, shared
        self.word_attention = WordAttentionModule(in_channels, num_parts)
        self.part_relation = PartRelationModule(feat_dims, num_parts, out_channels=relation_dims)
        self.classifiers = nn.ModuleDict(
            {'global': PartClassifier(1, feat_dims, num_classes),
             'local': PartClassifier(num_parts, feat_dims, num_classes),
             'relation': PartClassifier(num_parts, relation_dims, num_classes)})
        self.loss_rank = MODELS.build(loss_rank)
        self.loss_id = MODELS.build(loss_id)

    # ---------------------------------------------------------------- features
    def project_branches(self, pooled_global: torch.Tensor,
                         pooled_parts: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Shared projections: (B, C), (B, K, C) -> dict of (B, 1, D), (B, K, D), (B, K, D_n)."""
        local = F.leaky_relu(self.part_proj(pooled_parts), 0.25)
        return {'global': self.global_proj(pooled_global.unsqueeze(1)),
                'local': local,
                'relation': self.part_relation(local)}

    def image_features(self, img: torch.Tensor) -> Dict[str, torch.Tensor]:
        """
        Args:
            img (Tensor): normalised images, shape (B, 3, H, W).

        Returns:
            dict[str, Tensor]: ``global`` (B, 1, D), ``local`` (B, K, D), ``relation`` (B, K, D_n).
        """
        feat_map = self.backbone(img)[-1]
        if feat_map.size(2) < self.num_parts:
            raise ValueError(f'SSAN: visual map height {feat_map.size(2)} < num_parts={self.num_parts}; use '
                             f'taller images or a backbone with less down-sampling')
        pooled_global = feat_map.amax(dim=(2, 3))                                   # GMP
        pooled_parts = F.adaptive_max_pool2d(feat_map, (self.num_parts, 1)).flatten(2).transpose(1, 2)
        return self.project_branches(pooled_global, pooled_parts)

    def text_features(self, text: torch.Tensor, text_mask: Optional[torch.Tensor] = None,
                      return_scores: bool = False):
        """
        Args:
            text (Tensor): word ids, 0 = padding, shape (B, L).
            text_mask (Tensor, optional): 1 for words, shape (B, L).
            return_scores (bool): also return the WAM word-part scores (B, n, K).

        Returns:
            dict[str, Tensor]: as :meth:`image_features` (and the scores when asked).
        """
        words_global, words_part, mask = self.text_encoder(text, text_mask)
        pooled_global = words_global.masked_fill(~mask.unsqueeze(-1), float('-inf')).amax(dim=1)  # RMP
        pooled_parts, scores = self.word_attention(words_part, mask)
        feats = self.project_branches(pooled_global, pooled_parts)
        return (feats, scores) if return_scores else feats

    @staticmethod
    def retrieval_feature(feats: Dict[str, torch.Tensor]) -> torch.Tensor:
        """Concatenate the L2-normalised branch features: dot products then sum S_g + S_l + S_n.

        The per-branch normalisation (norm + 1e-8, as the official similarity) is over the whole branch, i.e.
        over the concatenation of its K parts.
        """
        blocks = []
        for name in BRANCHES:
            flat = feats[name].flatten(1)
            blocks.append(flat / (flat.norm(dim=1, keepdim=True) + 1e-8))
        return torch.cat(blocks, dim=1)

    # ---------------------------------------------------------------- modes
    def embed_image(self, inputs: dict, data_samples: Optional[List] = None) -> torch.Tensor:
        """Test feature of the images: ``[v_g/|v_g|, v_l/|v_l|, v_n/|v_n|]``, shape (N, D + K D + K D_n)."""
        return self.retrieval_feature(self.image_features(inputs['img']))

    def embed_text(self, inputs: dict, data_samples: Optional[List] = None) -> torch.Tensor:
        """Test feature of the captions (``text`` (N, L), optional ``text_mask``), as :meth:`embed_image`.

        Image and caption features are computed independently of each other (no cross-modal attention at
        inference), so a mixed test batch gives the same features as separate ones.
        """
        return self.retrieval_feature(self.text_features(inputs['text'], inputs.get('text_mask')))

    def _id_loss(self, name: str, img: torch.Tensor, txt: torch.Tensor, pids: torch.Tensor) -> torch.Tensor:
        """sum over parts of CE(image part) + CE(text part), divided by the number of parts, over the global
        batch (``loss_id`` is a global mean).

        Args:
            name (str): the branch (classifier).
            img (Tensor): this rank's image features of the branch, shape (B, K, D).
            txt (Tensor): its caption features, shape (B, K, D).
            pids (Tensor): person ids, shape (B,).
        """
        logits = self.classifiers[name](torch.cat([img, txt], dim=0))  # (2B, K, C)
        num_parts = logits.size(1)
        targets = torch.cat([pids, pids]).repeat_interleave(num_parts)
        per_part_mean = self.loss_id(logits.flatten(0, 1), targets)  # mean over the 2 B_global K rows
        return per_part_mean * 2  # = sum_k [mean_b CE_img + mean_b CE_txt] / K

    def loss(self, inputs: dict, data_samples: List) -> dict:
        for key in ('img', 'text', 'weak_text'):
            if key not in inputs:
                raise KeyError(f'SSAN.loss: training batches need inputs["{key}"] (got {sorted(inputs)}); the '
                               f'training pipeline must tokenize `caption` and `weak_caption` (WordTokenize)')
        pids = self.training_pids(data_samples, inputs['img'].device)
        img = self.image_features(inputs['img'])
        txt = self.text_features(inputs['text'], inputs.get('text_mask'))
        weak = self.text_features(inputs['weak_text'], inputs.get('weak_text_mask'))
        losses = {}
        for name, weight in zip(BRANCHES, self.branch_weights):
            losses[f'loss_id_{name}'] = weight * self._id_loss(name, img[name], txt[name], pids)
        for name, weight in zip(BRANCHES, self.branch_weights):
            losses[f'loss_cr_{name}'] = weight * self.loss_rank(img[name], txt[name], weak[name], pids)
        with torch.no_grad():
            logits = self.classifiers['global'](img['global']).squeeze(1)
            # logged as the accuracy of the global batch, as the losses
            losses['acc_id'] = distributed.global_mean((logits.argmax(1) == pids).float())
        return losses
