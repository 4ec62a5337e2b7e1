"""Word embedding + bidirectional LSTM text encoder of SSAN."""
from typing import Optional, Tuple

import torch
import torch.nn as nn


def caption_mask(token_ids: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Bool mask of the real words of a padded batch of captions.

    Args:
        token_ids (Tensor): word ids, 0 = padding, shape (B, L).
        mask (Tensor, optional): the tokenizer's mask (1 = word), shape (B, L); derived from the ids when None.

    Returns:
        Tensor: bool, shape (B, L); an empty caption keeps its first position so that pooling is defined.
    """
    mask = token_ids.ne(0) if mask is None else mask.bool()
    if mask.shape != token_ids.shape:
        raise ValueError(f'SSAN text encoder: text_mask shape {tuple(mask.shape)} differs from text ids '
                         f'{tuple(token_ids.shape)}')
    mask = mask.clone()
    mask[:, 0] |= ~mask.any(dim=1)
    return mask


class BiLSTMTextEncoder(nn.Module):
    """Embeds word ids and runs a bidirectional LSTM; each word's feature is the mean of both directions.

    As in the official code, two embedding tables (one for the global branch, one for the part branch) feed
    the same LSTM, so the two branches see different word features ``E_g`` and ``E_l`` of the same caption.
    Padding (id 0) is skipped with packed sequences.

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
        self.dropout = nn.Dropout(dropout)
        self.lstm = nn.LSTM(embed_dims, hidden_dims, num_layers=1, bidirectional=True, bias=False,
                            batch_first=True)

    def _encode(self, embedding: nn.Embedding, token_ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        words = self.dropout(embedding(token_ids))
        packed = nn.utils.rnn.pack_padded_sequence(words, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=token_ids.size(1))
        forward_dir, backward_dir = out.chunk(2, dim=-1)
        return (forward_dir + backward_dir) / 2

    def forward(self, token_ids: torch.Tensor,
                mask: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """
        Args:
            token_ids (Tensor): word ids, 0 = padding, shape (B, L).
            mask (Tensor, optional): 1 for words, shape (B, L).

        Returns:
            tuple[Tensor, Tensor, Tensor]: global-branch word features E_g (B, n, C), part-branch word
            features E_l (B, n, C) and the bool word mask (B, n), where n = the longest caption of the batch.
        """
        if token_ids.dim() != 2:
            raise ValueError(f'SSAN text encoder: inputs["text"] must be word ids of shape (B, L), got '
                             f'{tuple(token_ids.shape)}')
        if token_ids.numel() and int(token_ids.max()) >= self.vocab_size:
            raise ValueError(f'SSAN text encoder: word id {int(token_ids.max())} >= vocab_size={self.vocab_size};'
                             f' set model.vocab_size to the size of the word vocabulary')
        mask = caption_mask(token_ids, mask)
        lengths = mask.sum(dim=1)
        n = int(lengths.max())
        # captions are left-aligned: trimming to the longest one saves LSTM and WAM work
        token_ids, mask = token_ids[:, :n], mask[:, :n]
        words_global = self._encode(self.embed_global, token_ids, lengths)
        words_part = self._encode(self.embed_part, token_ids, lengths)
        return words_global, words_part, mask
