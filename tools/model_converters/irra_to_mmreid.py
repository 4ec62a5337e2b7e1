"""Convert an official IRRA checkpoint (anosorae/IRRA ``best.pth``) to this plugin's checkpoint format.

    python tools/model_converters/irra_to_mmreid.py OFFICIAL.pth OUT.pth
    python tools/test.py configs/irra_cuhkpedes.py OUT.pth

The official file holds ``{'model': state_dict, 'epoch': ..., ...}`` (``base_model.*`` OpenAI-layout CLIP,
``cross_attn``, ``cross_modal_transformer.resblocks.*``, ``ln_pre_t``, ``ln_pre_i``, ``ln_post``, ``mlm_head.*``,
``classifier.*``; fp16 linear / attention weights). ``OUT.pth`` holds ``state_dict`` (float32, the keys of
``IRRA.state_dict()``) and ``meta``; ``tools/test.py`` evaluates it without the pre-trained CLIP. A missing or
unknown entry is an error that names it; the output is written atomically (never half a file).
"""
import argparse
import io
import os.path as osp
import sys


sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..', '..')))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Convert an official IRRA checkpoint (best.pth) to mmreid')
    parser.add_argument('src', help='official IRRA checkpoint (best.pth of anosorae/IRRA)')
    parser.add_argument('dst', help='output checkpoint for tools/test.py')
    return parser.parse_args(argv)


if __name__ == '__main__':
    parse_args()  # --help and usage errors answer here, before torch and the plugin are imported

import torch  # noqa: E402
from plugins.core.utils import atomic_write  # noqa: E402
from plugins.core.utils.checkpoint import read_checkpoint  # noqa: E402
from plugins.irra.official_checkpoint import convert_official_irra, describe_official_irra  # noqa: E402


def load_official(src: str) -> dict:
    """The ``model`` state dict of an official ``best.pth`` (read with ``weights_only=True``)."""
    # the one checkpoint reader: a missing, damaged or non-checkpoint file is named (weights_only=True)
    checkpoint = read_checkpoint(src, what='official IRRA checkpoint (best.pth)')
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get('model'), dict):
        top = sorted(checkpoint) if isinstance(checkpoint, dict) else type(checkpoint).__name__
        raise KeyError(f'irra_to_mmreid: "{src}" has no "model" state dict (found {top}); expected the '
                       f'best.pth that the official IRRA training writes: {{"model": ..., "epoch": ...}}')
    return checkpoint


def main(argv=None):
    args = parse_args(argv)
    checkpoint = load_official(args.src)
    official = checkpoint['model']
    state_dict = convert_official_irra(official, source=f'"{args.src}"')
    sizes = describe_official_irra(official)
    meta = dict(converted_from=osp.basename(args.src), source='official IRRA (anosorae/IRRA) best.pth',
                official_epoch=checkpoint.get('epoch'), converter='tools/model_converters/irra_to_mmreid.py',
                **{k: int(v) for k, v in sizes.items()})
    buffer = io.BytesIO()
    torch.save(dict(meta=meta, state_dict=state_dict), buffer)
    with atomic_write(args.dst, 'wb') as f:
        f.write(buffer.getvalue())

    print(f'read {args.src}: {len(official)} tensors ({sizes["fp16_tensors"]} fp16), official epoch '
          f'{checkpoint.get("epoch")}')
    print(f'  CLIP ViT: width {sizes["vision_width"]} x {sizes["vision_layers"]} layers, patch '
          f'{sizes["patch_size"]}, position table {sizes["position_rows"]} rows (1 + 24x8 for 384x128, stride 16)')
    print(f'  text: width {sizes["text_width"]} x {sizes["text_layers"]} layers, context {sizes["context_length"]}, '
          f'vocabulary {sizes["vocab_size"]}; embedding {sizes["embed_dim"]}')
    print(f'  IRR: cross-attention + {sizes["cross_depth"]} blocks, MLM head; classifier: '
          f'{sizes["num_classes"]} identities (model.num_classes)')
    print(f'wrote {args.dst}: {len(state_dict)} float32 tensors (clip.*, cross_modal.*, mlm_head.*, classifier.*; '
          f'clip.logit_scale = CLIP\'s initial value, unused by IRRA)')
    print(f'evaluate: python tools/test.py configs/irra_<dataset>.py {args.dst}')
    return state_dict


if __name__ == '__main__':
    main()
