"""SSAN's towers for ONNX export (``tools/export_onnx.py``)."""
import torch

from plugins.core.deploy.feature_extractors import ImageFeatureExtractor, TextFeatureExtractor


class SSANImageExtractor(ImageFeatureExtractor):
    """SSAN: ``SSAN.embed_image`` (``[v_g, v_l, v_n]``, each branch L2-normalised)."""

    #: ``classifiers['global']`` is a Python keyword, which ``torch.export`` refuses as a sub-module name
    training_only = ('classifiers', )


class SSANTextExtractor(TextFeatureExtractor):
    """SSAN: ``[t_g, t_l, t_n]`` as ``SSAN.embed_text``.

    The model trims a batch to its longest caption, which an exported graph cannot do for every batch; the
    word features do not depend on the padding (``BiLSTMTextEncoder.encode_words``), so the graph runs on the
    whole padded batch.
    """

    training_only = ('classifiers', )

    def forward(self, text):
        model = self.model
        encoder = model.text_encoder
        mask = text.ne(0)
        # as caption_mask: an empty caption keeps its first position so that the poolings are defined
        mask = torch.cat([mask[:, :1] | ~mask.any(dim=1, keepdim=True), mask[:, 1:]], dim=1)
        words_global = encoder.encode_words(encoder.embed_global, text, mask)
        words_part = encoder.encode_words(encoder.embed_part, text, mask)
        pooled_global = words_global.masked_fill(~mask.unsqueeze(-1), float('-inf')).amax(dim=1)
        pooled_parts, _ = model.word_attention(words_part, mask)
        return model.retrieval_feature(model._branches(pooled_global, pooled_parts))

    def vocab_size(self):
        return self.model.text_encoder.vocab_size
