"""IRRA's text tower for ONNX export (``tools/export_onnx.py``): CLIP's token layout in the example captions."""
import torch

from plugins.core.deploy.feature_extractors import TextFeatureExtractor


class IRRATextExtractor(TextFeatureExtractor):
    """IRRA: ``IRRA.embed_text`` (L2-normalised projected token at the EOT position, the largest id).

    ``L`` may not exceed the text tower's ``max_position_embeddings`` (the ``context_length`` of the config).
    """

    def vocab_size(self):
        return self.model.clip.config.text_config.vocab_size

    def example_inputs(self, batch_size, length):
        # CLIPTokenize layout: SOT, words, EOT (the largest id, read by the tower), zero padding
        (ids, ) = super().example_inputs(batch_size, length)
        sot, eot = self.vocab_size() - 2, self.vocab_size() - 1
        ids = ids.clamp(max=sot - 1)
        lengths = (ids != 0).sum(1).clamp(min=2)
        positions = torch.arange(length)
        ids = torch.where(positions == 0, torch.full_like(ids, sot), ids)
        ids = torch.where(positions[None] == lengths[:, None] - 1, torch.full_like(ids, eot), ids)
        return (ids * (positions[None] < lengths[:, None]), )
