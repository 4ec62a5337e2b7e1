"""CAL's export-friendly image tower (``tools/export_onnx.py``): the modality of each image is a graph input."""
import torch

from plugins.core.deploy.feature_extractors import ImageFeatureExtractor


class CALImageExtractor(ImageFeatureExtractor):
    """CAL: ``[global | parts]`` of ``CAL.embed_image`` with the modality of each image as a second input.

    ``CAL`` routes each image through its modality's stem and DRM with ``nonzero``/``index_copy`` and Python
    branches on whether a modality is present, which a traced graph would freeze. Here both stems and both
    DRMs run on the whole batch and ``torch.where`` keeps each sample's own: the same result, one graph for
    any mix of modalities (the stems and DRMs are a small part of the cost).
    """

    input_names = ('image', 'is_infrared')

    def forward(self, image: torch.Tensor, is_infrared: torch.Tensor) -> torch.Tensor:
        """
        Args:
            image (Tensor): (B, 3, H, W), 0-255.
            is_infrared (Tensor): bool (B,), True for infrared / thermal images.

        Returns:
            Tensor: (B, (N_p + 1) C).
        """
        return self.features(self.normalize(image), is_infrared.bool())

    def features(self, img, is_infrared):
        model, backbone = self.model, self.model.backbone
        x = torch.where(is_infrared.view(-1, 1, 1, 1), backbone.modality_stem(img, infrared=True),
                        backbone.modality_stem(img, infrared=False))
        for name in backbone.resnet.res_layers[backbone.num_specific_stages:]:
            x = getattr(backbone.resnet, name)(x)
        parts = torch.where(is_infrared.view(-1, 1, 1), model.drm_infrared(x)[0], model.drm_visible(x)[0])
        return self._blocks(x, parts, is_infrared)

    def _blocks(self, feat_map, parts, is_infrared):
        """The tail of ``CAL.extract_feat`` with the export-friendly global pooling below."""
        global_feat = self.model.neck(self._global_pool(feat_map))
        tokens = feat_map.flatten(2).transpose(1, 2)
        return self.model.assemble_test_feature(global_feat, tokens, parts, is_infrared)

    def _global_pool(self, feat_map):
        """``model.pool``; GeM written with a mean over the map, because mmpretrain's ``gem`` takes the
        ``avg_pool2d`` kernel from the traced map size, which the TorchScript exporter cannot convert."""
        pool = self.model.pool
        if type(pool).__name__ != 'GeneralizedMeanPooling':
            return pool(feat_map)
        x = feat_map.clamp(min=pool.eps) if pool.clamp else feat_map
        return x.pow(pool.p).mean(dim=(2, 3)).pow(1. / pool.p)

    def example_inputs(self, batch_size, height, width):
        # both modalities, so that a check exercises the per-sample selection
        is_infrared = torch.arange(batch_size) % 2 == 1
        return super().example_inputs(batch_size, height, width) + (is_infrared, )
