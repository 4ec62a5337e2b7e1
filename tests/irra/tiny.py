"""A tiny random CLIP for the IRRA tests (hidden 64, 2 layers, patch 16, full CLIP vocabulary)."""

TINY_CLIP = dict(
    text_config=dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
                     vocab_size=49408, max_position_embeddings=77),
    vision_config=dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
                       image_size=64, patch_size=16),
    projection_dim=64)
