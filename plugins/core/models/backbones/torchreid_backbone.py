"""Any torchreid model (``torchreid.reid.models``) as an mmpretrain-style backbone returning feature maps."""
from typing import Optional, Sequence, Tuple

import torch
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS


def torchreid_model_factory() -> dict:
    """torchreid's model registry: ``{name: constructor}`` (osnet_x1_0, resnet50, pcb_p6, ...)."""
    from torchreid.reid import models as tr_models  # local: torchreid is slow to import
    return dict(vars(tr_models)['__model_factory'])


def pretrained_hint(name: str) -> str:
    """How to provide the ImageNet weights of torchreid model ``name`` without a download."""
    return (f"either place the file torchreid downloads into $TORCH_HOME/checkpoints (default "
            f"~/.cache/torch/checkpoints; OSNet models expect '{name}_imagenet.pth'), or build with "
            f"pretrained=False and give the weights as init_cfg=dict(type='Pretrained', "
            f"checkpoint='/path/to/{name}_imagenet.pth') (torchreid checkpoints load as they are)")


@MODELS.register_module()
class TorchreidBackbone(BaseModule):
    """A torchreid model cut before its global pooling, returning ``(feat_map, )`` like mmpretrain backbones.

    The model is built with ``torchreid.reid.models.build_model(name, num_classes=1, pretrained=pretrained)``
    and its ``featuremaps(x)`` is called, so the backbone drops into every method of this plugin that takes
    ``backbone=`` (e.g. :class:`~plugins.baseline.ReIDBaseline`, which pools the last map itself).

    The torchreid layers after the pooling (``fc`` of the ``*_fc512`` models, ``classifier``, ...) never
    receive a gradient; they are found once at build time (an autograd probe on a ``probe_size`` input) and
    frozen, so that DDP does not fail on unused parameters. They stay in the state dict, so torchreid
    checkpoints keep loading.

    Weights: ``pretrained=True`` lets torchreid download its ImageNet weights (fails offline, with an error
    explaining how to give them). Any checkpoint with torchreid's key names (``conv1.weight``,
    ``module.conv1.weight``, or a ``{'state_dict': ...}`` file of torchreid's engine) can be given as
    ``init_cfg=dict(type='Pretrained', checkpoint=PATH)``: keys without the ``model.`` prefix of this wrapper
    are remapped when loading.

    Args:
        name (str): torchreid model name, e.g. ``'osnet_x1_0'``, ``'osnet_ain_x1_0'``, ``'resnet50'``,
            ``'resnet50_ibn_a'``. Models without ``featuremaps`` (densenet, hacnn, inceptionv4, mlfn, nasnet,
            shufflenet, squeezenet) are rejected.
        pretrained (bool): load torchreid's ImageNet weights (downloaded by torchreid on first use).
        probe_size (Sequence[int]): ``(H, W)`` of the dummy input that measures :attr:`out_channels` and finds
            the unused layers; the channel count does not depend on it, but models with unpadded
            convolutions (inceptionresnetv2) need a larger one, e.g. ``(256, 128)``.
        init_cfg (dict, optional): e.g. ``dict(type='Pretrained', checkpoint=PATH)``.

    Attributes:
        out_channels (int): channels C of the returned map, e.g. 512 for ``osnet_x1_0``, 128 for
            ``osnet_x0_25``, 2048 for ``resnet50`` (and ``resnet50_fc512``: the fc layer is after the map).
        feat_dim (int): same as ``out_channels`` (the name the heads of this plugin read).

    Shapes:
        input ``(B, 3, H, W)`` -> output tuple ``((B, C, H / s, W / s), )``, ``s`` the model's stride
        (16 for OSNet and the ReID ResNets with last stride 1, 32 for plain ResNets). ``resnet50mid``, whose
        ``featuremaps`` returns two maps, gives both.
    """

    def __init__(self,
                 name: str = 'osnet_x1_0',
                 pretrained: bool = False,
                 probe_size: Sequence[int] = (64, 32),
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        self.name = name
        self.model = self._build(name, pretrained)
        if not callable(getattr(self.model, 'featuremaps', None)):
            raise TypeError(f'TorchreidBackbone: torchreid model {name!r} ({type(self.model).__name__}) has no '
                            f'`featuremaps(x)` method, so its feature maps cannot be taken; use a model that has '
                            f'one (osnet_*, resnet*, se_resnet*, resnet50_ibn_*, mobilenetv2_*, pcb_*, ...)')
        self.out_channels = self._probe(tuple(probe_size))
        self.feat_dim = self.out_channels
        # torchreid checkpoints name their keys without our `model.` prefix: remap them when loading
        self.register_load_state_dict_pre_hook(_add_model_prefix)

    @staticmethod
    def _build(name: str, pretrained: bool) -> torch.nn.Module:
        factory = torchreid_model_factory()
        if name not in factory:
            raise KeyError(f'TorchreidBackbone: unknown torchreid model {name!r}; available: {sorted(factory)}')
        from torchreid.reid.models import build_model
        if not pretrained:
            return build_model(name, num_classes=1, pretrained=False, use_gpu=False)
        try:
            return build_model(name, num_classes=1, pretrained=True, use_gpu=False)
        except Exception as err:  # requests / urllib / gdown errors when offline: re-raise with the way out
            raise RuntimeError(f'TorchreidBackbone: could not load the ImageNet weights of {name!r} '
                               f'({type(err).__name__}: {err}); {pretrained_hint(name)}') from err

    def _probe(self, probe_size: Tuple[int, int]) -> int:
        """Channels of the last map; freezes the parameters that the maps do not depend on."""
        was_training = self.model.training
        self.model.eval()  # batch of one: BatchNorm must use its running statistics
        params = [p for p in self.model.parameters() if p.requires_grad]
        try:
            maps = self._featuremaps(torch.zeros(1, 3, *probe_size))
        except RuntimeError as err:
            raise RuntimeError(f'TorchreidBackbone: {self.name!r} failed on a {probe_size} probe input ({err}); '
                               f'give a larger `probe_size`, e.g. (256, 128)') from err
        finally:
            self.model.train(was_training)
        grads = torch.autograd.grad(sum(m.sum() for m in maps), params, allow_unused=True)
        for param, grad in zip(params, grads):
            if grad is None:
                param.requires_grad_(False)
        return int(maps[-1].shape[1])

    def _featuremaps(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        maps = self.model.featuremaps(x)
        return tuple(maps) if isinstance(maps, (tuple, list)) else (maps, )

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Feature maps of ``x``.

        Args:
            x (Tensor): images, shape (B, 3, H, W), normalised as the model's weights expect.

        Returns:
            tuple[Tensor]: ``(feat_map, )`` of shape (B, C, H', W'), C = :attr:`out_channels`.
        """
        return self._featuremaps(x)


def _add_model_prefix(module, state_dict, prefix, *args):
    """Load-state-dict pre-hook: ``<prefix>conv1.weight`` -> ``<prefix>model.conv1.weight``."""
    for key in [k for k in state_dict if k.startswith(prefix) and not k.startswith(prefix + 'model.')]:
        state_dict[prefix + 'model.' + key[len(prefix):]] = state_dict.pop(key)
