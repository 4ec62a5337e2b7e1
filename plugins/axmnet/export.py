"""AXM-Net's text tower for ONNX export (``tools/export_onnx.py``)."""
import torch
import torch.nn.functional as F

from plugins.core.deploy.feature_extractors import TextFeatureExtractor


class AXMNetTextExtractor(TextFeatureExtractor):
    """AXM-Net: ``AXMNet.embed_text`` (L2-normalised joint-space caption embedding)."""

    def forward(self, text):
        model = self.model
        t, mask = self._text_stem(text)
        for block in model.axm_blocks:
            _, t = block(None, t, mask)
        return F.normalize(model._text_embedding(t, mask), dim=1)

    def _text_stem(self, text):
        """``WordConvTextStem.forward`` with the empty-caption fix written out of place (the TorchScript
        exporter has no in-place ``|=``)."""
        stem = self.model.text_stem
        mask = text.ne(0)
        mask = torch.cat([mask[:, :1] | ~mask.any(dim=1, keepdim=True), mask[:, 1:]], dim=1)
        x = stem.blocks(stem.project(stem.embedding(text).transpose(1, 2).unsqueeze(2)))
        return x * mask[:, None, None, :].to(x.dtype), mask

    def vocab_size(self):
        return self.model.text_stem.embedding.num_embeddings
