"""Word embedding + bidirectional LSTM text encoder of SSAN."""
from typing import Optional, Tuple

import torch
import torch.nn as nn

from plugins.core import distributed
from plugins.core.models.utils import caption_mask  # noqa: F401 (re-exported: SSAN's mask rule)


def fit_length(tensor: torch.Tensor, length: int) -> torch.Tensor:
    """Trim or zero-pad the columns of a batch of left-aligned captions to ``length``.

    Args:
        tensor (Tensor): word ids or a mask, shape (B, L).
        length (int): the wanted number of columns.

    Returns:
        Tensor: shape (B, length); extra columns are padding (0 / False).
    """
    if tensor.size(1) >= length:
        return tensor[:, :length]
    return torch.cat([tensor, tensor.new_zeros(tensor.size(0), length - tensor.size(1))], dim=1)


class BiLSTMTextEncoder(nn.Module):
    """Embeds word ids and runs a bidirectional LSTM; each word's feature is the mean of both directions.

    As in the official code, two embedding tables (one for the global branch, one for the part branch) feed
    the same LSTM, so the two branches see different word features ``E_g`` and ``E_l`` of the same caption.

    Padding does not change any word feature, as with the official packed sequences, but the LSTM runs on the
    dense zero-padded batch: the LSTM has no bias, so from a zero state a zero input keeps the state exactly
    zero and the backward direction starts at each caption's last word; the forward direction's outputs at
    padding positions are zeroed. The dense call is what lets PyTorch use its fused (oneDNN / cuDNN) LSTM
    kernels: on CPU a packed sequence falls back to one matrix product per time step, 3.5x slower forward +
    backward for 8 captions (tools/benchmark.py, section ``train``). The same function serves the exported
    text tower (``plugins.core.deploy``).

    The embedding dropout draws its masks per caption of the global batch (``GlobalBatchDropout``), so a
    distributed run drops the words of the 1-process run; the padding is zeroed after the dropout, so the
    padded inputs stay exactly zero.

    Args:
        vocab_size (int): number of word ids including padding (0) and unknown.
        embed_dims (int): word embedding dimension. Defaults to 512.
        hidden_dims (int): LSTM hidden size per direction = output word feature dimension C; SSAN uses the
            channel count of the visual map so that the 1x1 projections can be shared. Defaults to 2048.
        dropout (float): dropout on the embeddings. Defaults to 0.3.
        separate_part_embedding (bool): a second embedding table for the part branch. Defaults to True.
    """

    def __init__(self,
                 vocab_size: int,
                 embed_dims: int = 512,
                 hidden_dims: int = 2048,
                 dropout: float = 0.3,
                 separate_part_embedding: bool = True):
        super().__init__()
        self.vocab_size = vocab_size
        self.embed_global = nn.Embedding(vocab_size, embed_dims, padding_idx=0)
        self.embed_part = (nn.Embedding(vocab_size, embed_dims, padding_idx=0)
                           if separate_part_embedding else self.embed_global)
        # masks per caption of the global batch: a caption gets the same mask at any world size
        self.dropout = distributed.GlobalBatchDropout(dropout)
        # no bias (as the official code): the dense padded call in encode_words relies on it
        self.lstm = nn.LSTM(embed_dims, hidden_dims, num_layers=1, bidirectional=True, bias=False,
                            batch_first=True)

    def encode_words(self, embedding: nn.Embedding, token_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Word features of one embedding table: the mean of both LSTM directions, zero at padding.

        Args:
            embedding (nn.Embedding): ``embed_global`` or ``embed_part``.
            token_ids (Tensor): word ids, shape (B, L), captions left-aligned.
            mask (Tensor): bool, True for the real words, shape (B, L) (see :func:`caption_mask`).

        Returns:
            Tensor: shape (B, L, C).
        """
        keep = mask.unsqueeze(-1).to(embedding.weight.dtype)
        # zero inputs at padding (whatever row 0 of the table holds) keep the bias-free LSTM's state at zero
        words = self.dropout(embedding(token_ids)) * keep
        out, _ = self.lstm(words)
        forward_dir, backward_dir = out.chunk(2, dim=-1)
        return (forward_dir + backward_dir) / 2 * keep

    def batch_length(self, mask: torch.Tensor) -> int:
        """Number of word positions the batch is trimmed to: its longest caption.

        While the dropout is active this is the longest caption of the *global* batch: the dropout masks are
        drawn per caption of the global batch with the shape of one trimmed caption (n, embed_dims), which must
        then be the same at every world size. Padding never changes a word feature (see :meth:`encode_words`),
        so a longer trim is exact.

        Args:
            mask (Tensor): bool, True for the real words, shape (B, L).
        """
        lengths = mask.sum(dim=1)
        if self.training and self.dropout.p > 0:
            lengths = distributed.all_gather_no_grad(lengths)
        return int(lengths.max())

    def forward(self, token_ids: torch.Tensor,
                mask: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """
        Args:
            token_ids (Tensor): word ids, 0 = padding, shape (B, L).
            mask (Tensor, optional): 1 for words, shape (B, L).

        Returns:
            tuple[Tensor, Tensor, Tensor]: global-branch word features E_g (B, n, C), part-branch word
            features E_l (B, n, C) and the bool word mask (B, n), where n = the longest caption of the batch
            (of the global batch in training, see :meth:`batch_length`).
        """
        if token_ids.dim() != 2:
            raise ValueError(f'SSAN text encoder: inputs["text"] must be word ids of shape (B, L), got '
                             f'{tuple(token_ids.shape)}')
        if token_ids.numel() and int(token_ids.max()) >= self.vocab_size:
            raise ValueError(f'SSAN text encoder: word id {int(token_ids.max())} >= vocab_size={self.vocab_size};'
                             f' set model.vocab_size to the size of the word vocabulary')
        mask = caption_mask(token_ids, mask)
        n = self.batch_length(mask)
        # captions are left-aligned: trimming to the longest one saves LSTM and WAM work
        token_ids, mask = fit_length(token_ids, n), fit_length(mask, n)
        words_global = self.encode_words(self.embed_global, token_ids, mask)
        words_part = self.encode_words(self.embed_part, token_ids, mask)
        return words_global, words_part, mask
