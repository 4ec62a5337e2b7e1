"""SSAN's towers for ONNX export (``tools/export_onnx.py``)."""
from plugins.core.deploy.feature_extractors import ImageFeatureExtractor, TextFeatureExtractor
from plugins.core.models.utils import caption_mask


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
        mask = caption_mask(text)
        words_global = encoder.encode_words(encoder.embed_global, text, mask)
        words_part = encoder.encode_words(encoder.embed_part, text, mask)
        pooled_global = words_global.masked_fill(~mask.unsqueeze(-1), float('-inf')).amax(dim=1)
        pooled_parts, _ = model.word_attention(words_part, mask)
        return model.retrieval_feature(model.project_branches(pooled_global, pooled_parts))

    def vocab_size(self):
        return self.model.text_encoder.vocab_size
