"""AXM-Net's text tower for ONNX export (``tools/export_onnx.py``)."""
import torch.nn.functional as F

from plugins.core.deploy.feature_extractors import TextFeatureExtractor


class AXMNetTextExtractor(TextFeatureExtractor):
    """AXM-Net: ``AXMNet.embed_text`` (L2-normalised joint-space caption embedding)."""

    def forward(self, text):
        model = self.model
        t, mask = model.text_stem(text)
        for block in model.axm_blocks:
            _, t = block(None, t, mask)
        return F.normalize(model.text_embedding(t, mask), dim=1)

    def vocab_size(self):
        return self.model.text_stem.embedding.num_embeddings
