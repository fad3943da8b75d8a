"""The configurations of the keras-hub sweep (``bench_hub.py``): data only.

Every Backbone class keras-hub ships, each at two sizes:

- ``test``: the small ``init_kwargs`` and ``input_data`` shapes of
  keras-hub's own backbone test (``keras_hub/src/models/<family>/
  <family>_backbone_test.py``; for the few classes without one, the
  configuration their family's other tests build them with, said in
  ``source``);
- ``alt``: other sizes, chosen to meet the converters' corner cases: one
  head, head dim 1 where the model allows it, a sequence as long as the
  model is wide, batch 1, maps shrunk to 2x2 or 1x1.

Nothing here downloads anything: no presets, random weights only.

A configuration is ``Config(kwargs, inputs, about)``. ``kwargs`` may hold
`Make` nodes: a keras-hub object (an image encoder, a sub-encoder) built
from its own kwargs when the configuration is built, so every build gets
fresh ones. ``inputs`` is one `In` or ``{name: In}``: shapes, dtypes and
how to fill them (the test's values are ones and zeros, and a few explicit
index arrays). The sweep feeds them to the converters' verification only
where drawn inputs are refused; compare uses the same inputs.
"""

import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True)
class In:
    """One input: shape, dtype and fill ("ones", "zeros", "uniform",
    "normal", "randint:<high>", or explicit nested values)."""

    shape: tuple
    dtype: str = "float32"
    fill: Any = "ones"


class Make:
    """A keras-hub object built when the configuration is: ``target`` is a
    class name from `CLASSES` or ``keras_hub.models``; ``config_only``
    passes the object's ``get_config()`` instead of the object."""

    def __init__(self, target, *args, config_only=False, **kwargs):
        self.target = target
        self.args = args
        self.kwargs = kwargs
        self.config_only = config_only

    def __repr__(self):
        return f"Make({self.target!r}, ...)"


@dataclasses.dataclass
class Config:
    kwargs: dict
    inputs: Any
    about: str = ""


@dataclasses.dataclass
class Family:
    """One Backbone class: its test configuration and the other sizes."""

    cls: str
    test: Config
    alt: Config | None = None
    source: str = ""  # where the test configuration comes from, when not its own test


# Classes that are not in keras_hub.models (Backbone subclasses keras-hub
# keeps internal, and the sub-encoders some backbones are built from).
CLASSES = {
    "VAEBackbone": "keras_hub.src.models.vae.vae_backbone",
    "RQVAEBackbone": "keras_hub.src.models.rqvae.rqvae_backbone",
    "MMDiT": "keras_hub.src.models.stable_diffusion_3.mmdit",
    "BLIP2VisionEncoder": "keras_hub.src.models.blip2.blip2_vision_encoder",
    "BLIP2QFormer": "keras_hub.src.models.blip2.blip2_qformer",
    "BLIP2CustomOPT": "keras_hub.src.models.blip2.blip2_custom_opt",
    "Gemma3VisionEncoder": "keras_hub.src.models.gemma3.gemma3_vision_encoder",
    "Gemma4VisionEncoder": "keras_hub.src.models.gemma4.gemma4_vision_encoder",
    "Gemma3nAudioEncoder": "keras_hub.src.models.gemma3n.gemma3n_audio_encoder",
    "SAMPromptEncoder": "keras_hub.src.models.sam.sam_prompt_encoder",
    "SAMMaskDecoder": "keras_hub.src.models.sam.sam_mask_decoder",
    "SAM3VisionEncoder": "keras_hub.src.models.sam3.sam3_vision_encoder",
    "SAM3TextEncoder": "keras_hub.src.models.sam3.sam3_text_encoder",
    "SAM3GeometryEncoder": "keras_hub.src.models.sam3.sam3_geometry_encoder",
    "SAM3DetrEncoder": "keras_hub.src.models.sam3.sam3_detr_encoder",
    "SAM3DetrDecoder": "keras_hub.src.models.sam3.sam3_detr_decoder",
    "SAM3MaskDecoder": "keras_hub.src.models.sam3.sam3_mask_decoder",
}

# Backbone subclasses with no model of their own.
ABSTRACT = {
    "FeaturePyramidBackbone": "abstract base class (of ResNet, CSPNet, HGNetV2, MiT, ...): "
    "no model of its own",
}


# -- input helpers -----------------------------------------------------------------------


def tokens(batch, length, *, segments=False, mask=True, mask_dtype="int32", mask_fill="ones"):
    """``token_ids`` (ones), optionally ``segment_ids`` (zeros) and ``padding_mask``."""
    found = {"token_ids": In((batch, length), "int32")}
    if segments:
        found["segment_ids"] = In((batch, length), "int32", "zeros")
    if mask:
        found["padding_mask"] = In((batch, length), mask_dtype, mask_fill)
    return found


def seq2seq(batch, encoder, decoder, mask_fill="zeros"):
    return {
        "encoder_token_ids": In((batch, encoder), "int32"),
        "encoder_padding_mask": In((batch, encoder), "int32", mask_fill),
        "decoder_token_ids": In((batch, decoder), "int32"),
        "decoder_padding_mask": In((batch, decoder), "int32", mask_fill),
    }


def images(batch, height, width=None, channels=3, fill="ones"):
    return In((batch, height, width or height, channels), "float32", fill)


def _text(vocab, layers, heads, hidden, inter, length, **extra):
    return dict(vocabulary_size=vocab, num_layers=layers, num_heads=heads, hidden_dim=hidden,
                intermediate_dim=inter, max_sequence_length=length, **extra)


def _lm(vocab, layers, q, kv, hidden, inter, **extra):
    return dict(vocabulary_size=vocab, num_layers=layers, num_query_heads=q,
                num_key_value_heads=kv, hidden_dim=hidden, intermediate_dim=inter, **extra)


# The test configuration most text backbones share, and its other size:
# one head of 8, a sequence as long as the model is wide, batch 1.
TEXT_TEST = _text(10, 2, 2, 2, 4, 5)
TEXT_ALT = _text(10, 1, 1, 8, 8, 8)
ALT_TEXT = "1 head, head dim 8; length = hidden = intermediate = 8; batch 1"
LM_ALT_ABOUT = "1 query head, 1 key/value head, head dim 8; length = hidden = intermediate = 8; batch 1"


def _resnet(filters=(64, 64, 64), blocks=(2, 2, 2), strides=(1, 2, 2), block="basic_block",
            stem=64, kernel=7, pre=False, **extra):
    return Make("ResNetBackbone", input_conv_filters=[stem], input_conv_kernel_sizes=[kernel],
                stackwise_num_filters=list(filters), stackwise_num_blocks=list(blocks),
                stackwise_num_strides=list(strides), block_type=block, use_pre_activation=pre,
                **extra)


def _clip_like(prefix, folder, vocab, text_length, *, projection=True, test_images=224):
    """CLIP, SigLIP and MetaCLIP2: the backbone and both its encoders."""
    vision = dict(patch_size=16, hidden_dim=64, num_layers=2, num_heads=2, intermediate_dim=128)
    text = dict(vocabulary_size=vocab, embedding_dim=64, hidden_dim=64, num_layers=2,
                num_heads=2, intermediate_dim=128)
    vision_alt = dict(patch_size=4, hidden_dim=4, num_layers=1, num_heads=1, intermediate_dim=4,
                      image_shape=(8, 8, 3))
    text_alt = dict(vocabulary_size=10, embedding_dim=4, hidden_dim=4, num_layers=1, num_heads=1,
                    intermediate_dim=4, max_sequence_length=4)
    extra = dict(projection_dim=64) if projection else {}
    extra_alt = dict(projection_dim=4) if projection else {}
    backbone = Family(
        f"{prefix}Backbone",
        Config(dict(vision_encoder=Make(f"{prefix}VisionEncoder", name="vision_encoder", **vision),
                    text_encoder=Make(f"{prefix}TextEncoder", name="text_encoder", **text),
                    **extra),
               {"images": images(2, test_images), "token_ids": In((2, text_length), "int32")}),
        Config(dict(vision_encoder=Make(f"{prefix}VisionEncoder", name="vision_encoder", **vision_alt),
                    text_encoder=Make(f"{prefix}TextEncoder", name="text_encoder", **text_alt),
                    **extra_alt),
               {"images": images(1, 8), "token_ids": In((1, 4), "int32")},
               "1 head everywhere; 8x8 images in 4x4 patches; 4 tokens of text; every width 4; batch 1"),
    )
    vision_encoder = Family(
        f"{prefix}VisionEncoder",
        Config(vision, {"images": images(2, test_images)}),
        Config(vision_alt, {"images": images(1, 8)},
               "1 head of 4; 8x8 image in 4x4 patches: tokens as many as channels; batch 1"),
        source=f"the vision encoder of {folder}_backbone_test.py",
    )
    text_encoder = Family(
        f"{prefix}TextEncoder",
        Config(text, {"token_ids": In((2, text_length), "int32")}),
        Config(text_alt, {"token_ids": In((1, 4), "int32")},
               "1 head of 4; length = hidden = intermediate = 4; batch 1"),
        source=f"the text encoder of {folder}_backbone_test.py",
    )
    return [backbone, vision_encoder, text_encoder]


def _vit_encoder(height, width, patch, hidden, heads, mlp, name="image_encoder", **extra):
    return Make("ViTBackbone", image_shape=(height, width, 3), patch_size=patch, num_layers=2,
                num_heads=heads, hidden_dim=hidden, mlp_dim=mlp, use_class_token=False,
                name=name, **extra)


# Gemma3 / Gemma4 vision inputs (the tests' explicit masks and indices).
_GEMMA3_MASK = [
    [False] * 20 + [True] * 8 + [False] * 32 + [True] * 4,
    [False] * 16 + [True] * 8 + [False] * 36 + [True] * 4,
]
_GEMMA3_INDICES = [
    list(range(20, 28)) + list(range(60, 64)),
    list(range(16, 24)) + list(range(60, 64)),
]
_GEMMA4_MASK = [
    [False] * 20 + [True] * 4 + [False] * 16 + [True] * 4 + [False] * 16 + [True] * 4,
    [False] * 16 + [True] * 4 + [False] * 16 + [True] * 4 + [False] * 20 + [True] * 4,
]
_GEMMA4_INDICES = [
    list(range(20, 24)) + list(range(40, 44)) + list(range(60, 64)),
    list(range(16, 20)) + list(range(36, 40)) + list(range(60, 64)),
]

# MobileNetV5 of one "er_r1_k3_s1_e1_c8" block, as Gemma3n's test writes it.
_MOBILENETV5_ONE_BLOCK = dict(
    stackwise_block_types=[["er"]], stackwise_num_blocks=[1], stackwise_num_filters=[[8]],
    stackwise_strides=[[1]], stackwise_act_layers=[["gelu"]], stackwise_exp_ratios=[[1.0]],
    stackwise_se_ratios=[[0.0]], stackwise_dw_kernel_sizes=[[0]],
    stackwise_dw_start_kernel_sizes=[[0]], stackwise_dw_end_kernel_sizes=[[0]],
    stackwise_exp_kernel_sizes=[[3]], stackwise_pw_kernel_sizes=[[1]],
    stackwise_num_heads=[[0]], stackwise_key_dims=[[0]], stackwise_value_dims=[[0]],
    stackwise_kv_strides=[[0]], stackwise_use_cpe=[[False]],
)

_GEMMA3N_TEXT = dict(
    text_vocab_size=10, text_hidden_size=4, num_hidden_layers=1, pad_token_id=0,
    num_attention_heads=1, num_key_value_heads=1, head_dim=4, intermediate_size=[8],
    hidden_activation="gelu_approximate", layer_types=["full_attention"], sliding_window=4,
    rope_theta=10000.0, max_position_embeddings=8, vocab_size_per_layer_input=10,
    hidden_size_per_layer_input=2, altup_num_inputs=2, laurel_rank=1,
)

_SAM3_PARTS = dict(
    vision_encoder=Make("SAM3VisionEncoder", image_shape=(28, 28, 3), patch_size=14, num_layers=2,
                        hidden_dim=16, intermediate_dim=32, num_heads=2, fpn_hidden_dim=16,
                        fpn_scale_factors=[4.0, 2.0, 1.0, 0.5], pretrain_image_shape=(42, 42, 3),
                        window_size=2, global_attn_indexes=[1, 2]),
    text_encoder=Make("SAM3TextEncoder", vocabulary_size=32, embedding_dim=16, hidden_dim=16,
                      num_layers=2, num_heads=2, intermediate_dim=32),
    geometry_encoder=Make("SAM3GeometryEncoder", num_layers=2, hidden_dim=16, intermediate_dim=32,
                          num_heads=2, roi_size=7),
    detr_encoder=Make("SAM3DetrEncoder", num_layers=2, hidden_dim=16, intermediate_dim=32,
                      num_heads=2),
    detr_decoder=Make("SAM3DetrDecoder", image_shape=(28, 28, 3), patch_size=14, num_layers=2,
                      hidden_dim=16, intermediate_dim=32, num_heads=2, num_queries=8),
    mask_decoder=Make("SAM3MaskDecoder", num_upsampling_stages=3, hidden_dim=16, num_heads=2),
)


def _sam3_alt():
    """SAM3 with one head everywhere (head dim 16) and one layer per part."""
    parts = {}
    for key, make in _SAM3_PARTS.items():
        kwargs = dict(make.kwargs)
        if "num_heads" in kwargs:
            kwargs["num_heads"] = 1
        if "num_layers" in kwargs:
            kwargs["num_layers"] = 1
        if key == "vision_encoder":
            kwargs["global_attn_indexes"] = [0]
        parts[key] = Make(make.target, **kwargs)
    return parts


_SAM3_INPUTS = {
    "pixel_values": images(2, 28),
    "token_ids": In((2, 32), "int32"),
    "padding_mask": In((2, 32), "bool"),
    "boxes": In((2, 1, 5), "float32"),
    "box_labels": In((2, 1), "int32"),
}

_DFINE = dict(
    decoder_in_channels=[16, 16], encoder_hidden_dim=16, num_denoising=10, num_labels=4,
    hidden_dim=16, learn_initial_query=False, num_queries=10, anchor_image_size=(32, 32),
    feat_strides=[4, 8], num_feature_levels=2, encoder_in_channels=[16, 32],
    encode_proj_layers=[1], num_attention_heads=2, encoder_ffn_dim=32, num_encoder_layers=1,
    hidden_expansion=0.5, depth_multiplier=0.5, eval_idx=-1, num_decoder_layers=3,
    decoder_attention_heads=2, decoder_ffn_dim=32, decoder_n_points=[2, 2], lqe_hidden_dim=16,
    num_lqe_layers=2, out_features=["stage1", "stage2"], image_shape=(None, None, 3), seed=0,
)
_DFINE_HGNET = dict(
    stem_channels=[3, 8, 8],
    stackwise_stage_filters=[[8, 8, 16, 1, 1, 3], [16, 8, 32, 1, 1, 3]],
    apply_downsample=[False, True], use_lightweight_conv_block=[False, False], depths=[1, 1],
    hidden_sizes=[16, 32], embedding_size=8, use_learnable_affine_block=True, hidden_act="relu",
    image_shape=(None, None, 3), out_features=["stage1", "stage2"],
)

_SD3_VAE = dict(encoder_num_filters=[32] * 4, encoder_num_blocks=[1] * 4,
                decoder_num_filters=[32] * 4, decoder_num_blocks=[1] * 4, sampler_method="mode")

_MOBILENET_TEST = dict(
    stackwise_expansion=[[40, 56], [64, 144, 144], [72, 72], [144, 288, 288]],
    stackwise_num_blocks=[2, 3, 2, 3],
    stackwise_num_filters=[[16, 16], [24, 24, 24], [24, 24], [48, 48, 48]],
    stackwise_kernel_size=[[3, 3], [5, 5, 5], [5, 5], [5, 5, 5]],
    stackwise_num_strides=[[2, 1], [2, 1, 1], [1, 1], [2, 1, 1]],
    stackwise_se_ratio=[[None, None], [0.25, 0.25, 0.25], [0.25, 0.25], [0.25, 0.25, 0.25]],
    stackwise_activation=[["relu", "relu"], ["hard_swish"] * 3, ["hard_swish"] * 2,
                          ["hard_swish"] * 3, ["hard_swish"]],
    stackwise_padding=[[1, 1], [2, 2, 2], [2, 2], [2, 2, 2]],
    output_num_filters=1024, input_activation="hard_swish", output_activation="hard_swish",
    input_num_filters=16, image_shape=(32, 32, 3), depthwise_filters=8, depthwise_stride=2,
    depthwise_residual=False, squeeze_and_excite=0.5, last_layer_filter=288,
)

_MOBILENETV5_TEST = dict(
    stackwise_block_types=[["er"], ["uir", "uir"]], stackwise_num_blocks=[1, 2],
    stackwise_num_filters=[[24], [48, 48]], stackwise_strides=[[2], [2, 1]],
    stackwise_act_layers=[["relu"], ["relu", "relu"]], stackwise_exp_ratios=[[4.0], [6.0, 6.0]],
    stackwise_se_ratios=[[0.0], [0.0, 0.0]], stackwise_dw_kernel_sizes=[[0], [5, 5]],
    stackwise_dw_start_kernel_sizes=[[0], [0, 0]], stackwise_dw_end_kernel_sizes=[[0], [0, 0]],
    stackwise_exp_kernel_sizes=[[3], [0, 0]], stackwise_pw_kernel_sizes=[[1], [0, 0]],
    stackwise_num_heads=[[0], [0, 0]], stackwise_key_dims=[[0], [0, 0]],
    stackwise_value_dims=[[0], [0, 0]], stackwise_kv_strides=[[0], [0, 0]],
    stackwise_use_cpe=[[False], [False, False]], image_shape=(32, 32, 3), stem_size=16,
    use_msfa=False,
)

_EFFICIENTNET_TEST = dict(
    stackwise_kernel_sizes=[3] * 6, stackwise_num_repeats=[2, 4, 4, 6, 9, 15],
    stackwise_input_filters=[24, 24, 48, 64, 128, 160],
    stackwise_output_filters=[24, 48, 64, 128, 160, 256],
    stackwise_expansion_ratios=[1, 4, 4, 4, 6, 6],
    stackwise_squeeze_and_excite_ratios=[0.0, 0.0, 0, 0.25, 0.25, 0.25],
    stackwise_strides=[1, 2, 2, 2, 1, 2], stackwise_block_types=["fused"] * 3 + ["unfused"] * 3,
    stackwise_force_input_filters=[0] * 6, stackwise_nores_option=[False] * 6,
    width_coefficient=1.0, depth_coefficient=1.0,
)

_QWEN3_5_LINEAR = dict(
    layer_types=["linear_attention"] * 3 + ["full_attention"], partial_rotary_factor=0.25,
    linear_num_key_heads=2, linear_num_value_heads=4, linear_key_head_dim=4,
    linear_value_head_dim=4, linear_conv_kernel_dim=4,
)
_QWEN3_5_LINEAR_ALT = dict(
    layer_types=["linear_attention", "full_attention"], partial_rotary_factor=0.25,
    linear_num_key_heads=1, linear_num_value_heads=1, linear_key_head_dim=8,
    linear_value_head_dim=8, linear_conv_kernel_dim=4,
)

_T5GEMMA = dict(
    vocabulary_size=100, encoder_hidden_dim=32, encoder_intermediate_dim=64, encoder_num_layers=2,
    encoder_num_attention_heads=4, encoder_num_key_value_heads=2, encoder_head_dim=8,
    encoder_layer_types=["sliding_attention", "full_attention"], decoder_hidden_dim=32,
    decoder_intermediate_dim=64, decoder_num_layers=2, decoder_num_attention_heads=4,
    decoder_num_key_value_heads=2, decoder_head_dim=8,
    decoder_layer_types=["sliding_attention", "full_attention"], dropout_rate=0.1,
    rms_norm_eps=1e-6, tie_word_embeddings=True, query_pre_attn_scalar=1.0, attention_bias=False,
    hidden_activation="gelu_approximate", sliding_window=16, cross_attention_hidden_size=32,
    attn_logit_softcapping=50.0, rope_max_wavelength=10000.0, initializer_range=0.04,
    attention_dropout=0.1,
)
_T5GEMMA_ALT = dict(
    _T5GEMMA, encoder_hidden_dim=8, encoder_intermediate_dim=8, encoder_num_layers=1,
    encoder_num_attention_heads=1, encoder_num_key_value_heads=1, encoder_head_dim=8,
    encoder_layer_types=["full_attention"], decoder_hidden_dim=8, decoder_intermediate_dim=8,
    decoder_num_layers=1, decoder_num_attention_heads=1, decoder_num_key_value_heads=1,
    decoder_head_dim=8, decoder_layer_types=["full_attention"], cross_attention_hidden_size=8,
)


FAMILIES = [
    # -- text encoders ---------------------------------------------------------------------
    Family("AlbertBackbone",
           Config(dict(vocabulary_size=10, num_layers=2, num_heads=2, num_groups=1,
                       num_inner_repetitions=1, embedding_dim=16, hidden_dim=2,
                       intermediate_dim=4, max_sequence_length=5),
                  tokens(2, 5, segments=True)),
           Config(dict(vocabulary_size=10, num_layers=2, num_heads=1, num_groups=2,
                       num_inner_repetitions=1, embedding_dim=8, hidden_dim=8,
                       intermediate_dim=8, max_sequence_length=8),
                  tokens(1, 8, segments=True),
                  "1 head of 8; two layer groups; embedding = hidden = length = 8; batch 1")),
    Family("BertBackbone", Config(TEXT_TEST, tokens(2, 5, segments=True)),
           Config(TEXT_ALT, tokens(1, 8, segments=True), ALT_TEXT)),
    Family("DebertaV3Backbone", Config(TEXT_TEST, tokens(2, 5)),
           Config(dict(TEXT_ALT, bucket_size=4), tokens(1, 8), ALT_TEXT + "; 4 position buckets")),
    Family("DistilBertBackbone", Config(TEXT_TEST, tokens(2, 5)),
           Config(TEXT_ALT, tokens(1, 8), ALT_TEXT)),
    Family("ElectraBackbone",
           Config(dict(vocab_size=10, num_layers=2, num_heads=2, hidden_dim=2, embedding_dim=2,
                       intermediate_dim=4, max_sequence_length=5),
                  tokens(2, 5, segments=True)),
           Config(dict(vocab_size=10, num_layers=1, num_heads=1, hidden_dim=8, embedding_dim=4,
                       intermediate_dim=8, max_sequence_length=8),
                  tokens(1, 8, segments=True), ALT_TEXT + "; embedding 4")),
    Family("ESMBackbone",
           Config(dict(vocabulary_size=10, num_layers=2, num_heads=1, hidden_dim=2,
                       intermediate_dim=4), {"token_ids": In((2, 5), "int32")}),
           Config(dict(vocabulary_size=10, num_layers=1, num_heads=4, hidden_dim=8,
                       intermediate_dim=8, max_sequence_length=8,
                       position_embedding_type="absolute"),
                  {"token_ids": In((1, 8), "int32")},
                  "4 heads of 2; absolute positions, a table of 8 = length = hidden; batch 1")),
    Family("FNetBackbone",
           Config(dict(vocabulary_size=10, num_layers=2, hidden_dim=2, intermediate_dim=4,
                       max_sequence_length=5), tokens(2, 5, segments=True, mask=False)),
           Config(dict(vocabulary_size=10, num_layers=1, hidden_dim=8, intermediate_dim=8,
                       max_sequence_length=8), tokens(1, 8, segments=True, mask=False),
                  "length = hidden = intermediate = 8; batch 1")),
    Family("RobertaBackbone", Config(TEXT_TEST, tokens(2, 5)),
           Config(TEXT_ALT, tokens(1, 8), ALT_TEXT)),
    Family("RoformerV2Backbone",
           Config(dict(vocabulary_size=10, num_layers=2, num_heads=1, hidden_dim=2,
                       intermediate_dim=4, head_size=2), tokens(2, 5, segments=True, mask=False)),
           Config(dict(vocabulary_size=10, num_layers=1, num_heads=4, hidden_dim=8,
                       intermediate_dim=8, head_size=2),
                  tokens(1, 8, segments=True, mask=False),
                  "4 heads of 2; length = hidden = 8; batch 1")),
    Family("XLMRobertaBackbone", Config(TEXT_TEST, tokens(2, 5)),
           Config(TEXT_ALT, tokens(1, 8), ALT_TEXT)),
    Family("XLNetBackbone",
           Config(dict(vocabulary_size=10, num_layers=2, num_heads=2, hidden_dim=2,
                       intermediate_dim=4), tokens(2, 5, segments=True)),
           Config(dict(vocabulary_size=10, num_layers=1, num_heads=1, hidden_dim=8,
                       intermediate_dim=8), tokens(1, 8, segments=True), ALT_TEXT)),
    # -- decoders ------------------------------------------------------------------------------
    Family("BloomBackbone",
           Config(dict(vocabulary_size=10, num_layers=2, num_heads=4, hidden_dim=8,
                       intermediate_dim=32), tokens(2, 5)),
           Config(dict(vocabulary_size=10, num_layers=1, num_heads=8, hidden_dim=8,
                       intermediate_dim=8), tokens(1, 8),
                  "8 heads of 1; length = hidden = intermediate = 8; batch 1")),
    Family("FalconBackbone",
           Config(dict(vocabulary_size=10, num_layers=2, num_attention_heads=8, hidden_dim=16,
                       intermediate_dim=32), tokens(2, 5)),
           Config(dict(vocabulary_size=10, num_layers=1, num_attention_heads=1, hidden_dim=8,
                       intermediate_dim=8), tokens(1, 8), ALT_TEXT)),
    Family("GPT2Backbone", Config(TEXT_TEST, tokens(2, 5)),
           Config(TEXT_ALT, tokens(1, 8), ALT_TEXT)),
    Family("GPTNeoXBackbone", Config(TEXT_TEST, tokens(2, 5)),
           Config(TEXT_ALT, tokens(1, 8), ALT_TEXT + "; rotary on 2 of 8")),
    Family("OPTBackbone", Config(TEXT_TEST, tokens(2, 5)),
           Config(TEXT_ALT, tokens(1, 8), ALT_TEXT)),
    Family("GemmaBackbone",
           Config(_lm(20, 2, 4, 1, 16, 32, head_dim=4, layer_norm_epsilon=1e-6), tokens(2, 5)),
           Config(_lm(10, 1, 1, 1, 8, 8, head_dim=8), tokens(1, 8), LM_ALT_ABOUT)),
    Family("Gemma3Backbone",
           Config(_lm(256, 6, 2, 1, 8, 16, image_size=16, head_dim=4,
                      query_head_dim_normalize=True, use_query_key_norm=True,
                      use_post_ffw_norm=True, use_post_attention_norm=True,
                      final_logit_soft_cap=None, attention_logit_soft_cap=None,
                      use_sliding_window_attention=True, sliding_window_size=1024,
                      vision_encoder=Make("Gemma3VisionEncoder", image_size=16, patch_size=4,
                                          pool_size=2, num_layers=2, num_heads=2, hidden_dim=8,
                                          intermediate_dim=16, output_dim=8)),
                  {**tokens(2, 64), "images": In((2, 3, 16, 16, 3), "float32", "uniform"),
                   "vision_mask": In((2, 64), "bool", _GEMMA3_MASK),
                   "vision_indices": In((2, 12), "int32", _GEMMA3_INDICES)}),
           Config(_lm(10, 1, 1, 1, 8, 8, image_size=16, head_dim=8, use_query_key_norm=True,
                      use_sliding_window_attention=True, sliding_window_size=4),
                  tokens(1, 8), "text only; " + LM_ALT_ABOUT + "; sliding window 4")),
    Family("Gemma3nBackbone",
           Config(dict(_GEMMA3N_TEXT,
                       vision_encoder_config=Make("MobileNetV5Backbone", config_only=True,
                                                  num_features=4, image_shape=(32, 32, 3),
                                                  use_msfa=False, **_MOBILENETV5_ONE_BLOCK),
                       vision_hidden_size=8,
                       audio_encoder_config=Make(
                           "Gemma3nAudioEncoder", config_only=True, hidden_size=4,
                           input_feat_size=16, sscp_conv_channel_size=[2, 4],
                           sscp_conv_kernel_size=[(1, 1), (1, 1)],
                           sscp_conv_stride_size=[(2, 2), (2, 2)], sscp_conv_group_norm_eps=1e-5,
                           num_hidden_layers=1, rms_norm_eps=1e-6, gradient_clipping=1.0,
                           residual_weight=0.5, num_attention_heads=1, attention_chunk_size=2,
                           num_attention_context_right=1, num_attention_context_left=1,
                           attention_logit_cap=50.0, conv_kernel_size=3, reduction_factor=1),
                       audio_hidden_size=4),
                  {"token_ids": In((1, 8), "int32", "randint:10"),
                   "padding_mask": In((1, 8), "bool"),
                   "images": In((1, 1, 32, 32, 3), "float32", "uniform"),
                   "input_features": In((1, 1, 8, 16), "float32", "uniform"),
                   "input_features_mask": In((1, 1, 8), "bool", "zeros")}),
           Config(dict(_GEMMA3N_TEXT, text_hidden_size=8, head_dim=8, intermediate_size=[8]),
                  {"token_ids": In((1, 8), "int32", "randint:10"),
                   "padding_mask": In((1, 8), "bool")},
                  "text only; 1 head of 8; length = hidden = intermediate = 8; batch 1")),
    Family("Gemma4Backbone",
           Config(_lm(256, 6, 2, 1, 8, 16, image_size=16, head_dim=4,
                      use_sliding_window_attention=True, sliding_window_size=16,
                      attention_logit_soft_cap=None, final_logit_soft_cap=None,
                      vision_encoder=Make("Gemma4VisionEncoder", image_size=16, patch_size=4,
                                          pool_size=2, num_layers=2, num_heads=2, head_dim=4,
                                          num_key_value_heads=2, hidden_dim=8,
                                          intermediate_dim=16, output_dim=8)),
                  {**tokens(2, 64), "pixel_values": In((2, 3, 16, 48), "float32", "uniform"),
                   "pixel_position_ids": In((2, 3, 16, 2), "int32"),
                   "position_ids": In((2, 64), "int32", [list(range(64))] * 2),
                   "vision_mask": In((2, 64), "bool", _GEMMA4_MASK),
                   "vision_indices": In((2, 12), "int32", _GEMMA4_INDICES)}),
           Config(_lm(10, 1, 1, 1, 8, 8, image_size=16, head_dim=8,
                      use_sliding_window_attention=True, sliding_window_size=4),
                  {**tokens(1, 8), "position_ids": In((1, 8), "int32", [list(range(8))])},
                  "text only; " + LM_ALT_ABOUT + "; sliding window 4")),
    Family("GptOssBackbone",
           Config(_lm(10, 2, 8, 4, 16, 8, num_experts=2, top_k=2, sliding_window=2), tokens(2, 5)),
           Config(_lm(10, 1, 1, 1, 8, 8, num_experts=2, top_k=1, sliding_window=8), tokens(1, 8),
                  LM_ALT_ABOUT + "; 2 experts, top 1")),
    Family("LlamaBackbone", Config(_lm(10, 2, 4, 2, 8, 8), tokens(2, 5)),
           Config(_lm(10, 1, 1, 1, 8, 8), tokens(1, 8), LM_ALT_ABOUT)),
    Family("Llama3Backbone", Config(_lm(10, 2, 4, 2, 8, 16), tokens(2, 7)),
           Config(_lm(10, 1, 1, 1, 8, 8), tokens(1, 8), LM_ALT_ABOUT),
           source="llama3_causal_lm_test.py (sequence length 7; a 10-token vocabulary "
                  "for the test tokenizer's)"),
    Family("MistralBackbone", Config(_lm(10, 2, 8, 4, 16, 8, sliding_window=2), tokens(2, 5)),
           Config(_lm(10, 1, 1, 1, 8, 8, sliding_window=8), tokens(1, 8), LM_ALT_ABOUT)),
    Family("MixtralBackbone",
           Config(_lm(10, 2, 8, 4, 16, 8, num_experts=2, top_k=2, sliding_window=2), tokens(2, 5)),
           Config(_lm(10, 1, 1, 1, 8, 8, num_experts=2, top_k=1, sliding_window=8), tokens(1, 8),
                  LM_ALT_ABOUT + "; 2 experts, top 1")),
    Family("Phi3Backbone", Config(_lm(10, 2, 4, 2, 8, 8), tokens(2, 5)),
           Config(_lm(10, 1, 1, 1, 8, 8, max_sequence_length=16, pretraining_sequence_length=8,
                      rope_scaling_type="su", rope_scaling_short_factor=[1.2, 1.4, 1.6, 1.8],
                      rope_scaling_long_factor=[0.8, 0.6, 0.4, 0.2]),
                  tokens(1, 8), LM_ALT_ABOUT + "; 'su' rope scaling")),
    Family("QwenBackbone", Config(_lm(10, 2, 4, 2, 8, 16), tokens(2, 7)),
           Config(_lm(10, 1, 1, 1, 8, 8), tokens(1, 8), LM_ALT_ABOUT),
           source="qwen_causal_lm_test.py (sequence length 7; a 10-token vocabulary "
                  "for the test tokenizer's)"),
    Family("Qwen3Backbone", Config(_lm(10, 2, 4, 2, 8, 8, head_dim=2), tokens(2, 5)),
           Config(_lm(10, 1, 1, 1, 8, 8, head_dim=8), tokens(1, 8), LM_ALT_ABOUT)),
    Family("Qwen3_5Backbone",
           Config(_lm(10, 4, 4, 2, 16, 32, head_dim=8, **_QWEN3_5_LINEAR), tokens(2, 5)),
           Config(_lm(10, 2, 1, 1, 8, 8, head_dim=8, **_QWEN3_5_LINEAR_ALT), tokens(1, 8),
                  LM_ALT_ABOUT + "; one linear-attention layer with 1 head of 8")),
    Family("Qwen3_5MoeBackbone",
           Config(dict(vocabulary_size=10, num_layers=4, num_query_heads=4, num_key_value_heads=2,
                       head_dim=8, hidden_dim=16, moe_intermediate_dim=8,
                       shared_expert_intermediate_size=8, num_experts=4, top_k=2,
                       router_aux_loss_coefficient=0.01, dtype="float32", **_QWEN3_5_LINEAR),
                  tokens(2, 5)),
           Config(dict(vocabulary_size=10, num_layers=2, num_query_heads=1, num_key_value_heads=1,
                       head_dim=8, hidden_dim=8, moe_intermediate_dim=8,
                       shared_expert_intermediate_size=8, num_experts=2, top_k=1,
                       **_QWEN3_5_LINEAR_ALT),
                  tokens(1, 8), LM_ALT_ABOUT + "; 2 experts, top 1")),
    Family("Qwen3MoeBackbone",
           Config(_lm(20, 2, 4, 2, 16, 32, head_dim=2, moe_intermediate_dim=16, num_experts=4,
                      top_k=2, norm_top_k_prob=True, decoder_sparse_step=1,
                      layer_norm_epsilon=1e-6, rope_max_wavelength=10000,
                      rope_scaling_factor=1.0, dropout=0.0, sliding_window_size=4096,
                      router_aux_loss_coefficient=0.01, tie_word_embeddings=False,
                      mlp_only_layers=[], dtype="float32"), tokens(2, 7)),
           Config(_lm(10, 1, 1, 1, 8, 8, head_dim=8, moe_intermediate_dim=8, num_experts=2,
                      top_k=1), tokens(1, 8), LM_ALT_ABOUT + "; 2 experts, top 1")),
    Family("QwenMoeBackbone",
           Config(_lm(20, 2, 4, 2, 16, 32, moe_intermediate_dim=16,
                      shared_expert_intermediate_dim=32, num_experts=4, top_k=2,
                      norm_top_k_prob=True, decoder_sparse_step=1, layer_norm_epsilon=1e-6,
                      rope_max_wavelength=10000, rope_scaling_factor=1.0, dropout=0.0,
                      use_sliding_window_attention=False, sliding_window_size=4096,
                      router_aux_loss_coefficient=0.01, tie_word_embeddings=False,
                      output_router_logits=False, mlp_only_layers=[], dtype="float32"),
                  tokens(2, 7)),
           Config(_lm(10, 1, 1, 1, 8, 8, moe_intermediate_dim=8, shared_expert_intermediate_dim=8,
                      num_experts=2, top_k=1), tokens(1, 8), LM_ALT_ABOUT + "; 2 experts, top 1")),
    Family("SmolLM3Backbone",
           Config(dict(vocabulary_size=100, hidden_dim=64, intermediate_dim=128, num_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, attention_bias=False,
                       attention_dropout=0.0, rope_layer_enabled_list=[True, True],
                       layer_types=["attention", "attention"], mlp_bias=False,
                       layer_norm_epsilon=1e-5, max_position_embeddings=128, rope_theta=10000.0,
                       partial_rotary_factor=1.0), tokens(2, 5)),
           Config(dict(vocabulary_size=10, hidden_dim=8, intermediate_dim=8, num_layers=2,
                       num_attention_heads=1, num_key_value_heads=1, attention_bias=True,
                       attention_dropout=0.0, rope_layer_enabled_list=[True, False],
                       layer_types=["attention", "attention"], mlp_bias=True,
                       layer_norm_epsilon=1e-5, max_position_embeddings=8, rope_theta=10000.0,
                       partial_rotary_factor=1.0), tokens(1, 8),
                  LM_ALT_ABOUT + "; biases on; rope in the first layer only")),
    Family("RWKV7Backbone",
           Config(dict(vocabulary_size=10, hidden_size=16, num_layers=2, head_size=4,
                       intermediate_dim=32, gate_lora=32, mv_lora=16, aaa_lora=16,
                       decay_lora=16), tokens(2, 16)),
           Config(dict(vocabulary_size=10, hidden_size=8, num_layers=1, head_size=8,
                       intermediate_dim=8, gate_lora=8, mv_lora=8, aaa_lora=8, decay_lora=8),
                  tokens(1, 8), "1 head of 8; length = hidden = intermediate = every lora = 8; batch 1")),
    # -- encoder-decoders --------------------------------------------------------------------
    Family("BartBackbone", Config(TEXT_TEST, seq2seq(2, 3, 5)),
           Config(TEXT_ALT, seq2seq(1, 8, 8, "ones"), ALT_TEXT + " (encoder and decoder)")),
    Family("EdRecBackbone",
           Config(dict(vocab_size=10, num_layers_enc=2, num_layers_dec=2, num_heads=2,
                       hidden_dim=4, intermediate_dim=8, dropout=0.0), seq2seq(2, 5, 5)),
           Config(dict(vocab_size=10, num_layers_enc=1, num_layers_dec=1, num_heads=1,
                       hidden_dim=8, intermediate_dim=8), seq2seq(1, 8, 8, "ones"),
                  ALT_TEXT + " (encoder and decoder)")),
    Family("T5Backbone",
           Config(dict(vocabulary_size=10, num_layers=2, num_heads=2, hidden_dim=2,
                       intermediate_dim=4), seq2seq(2, 3, 3)),
           Config(dict(vocabulary_size=10, num_layers=1, num_heads=1, hidden_dim=8,
                       intermediate_dim=8, use_gated_activation=False),
                  seq2seq(1, 8, 8, "ones"), ALT_TEXT + "; not gated")),
    Family("T5GemmaBackbone", Config(_T5GEMMA, seq2seq(2, 16, 16, "ones")),
           Config(_T5GEMMA_ALT, seq2seq(1, 8, 8, "ones"), LM_ALT_ABOUT + " (encoder and decoder)")),
    Family("T5Gemma2Backbone", Config(dict(_T5GEMMA, use_query_key_norm=True), seq2seq(2, 16, 16, "ones")),
           Config(dict(_T5GEMMA_ALT, use_query_key_norm=True), seq2seq(1, 8, 8, "ones"),
                  LM_ALT_ABOUT + " (encoder and decoder)")),
    Family("WhisperBackbone",
           Config(dict(vocabulary_size=10, num_layers=2, num_heads=2, hidden_dim=2,
                       intermediate_dim=4, max_encoder_sequence_length=6,
                       max_decoder_sequence_length=6),
                  {"encoder_features": In((2, 5, 80)), "decoder_token_ids": In((2, 5), "int32"),
                   "decoder_padding_mask": In((2, 5), "int32")}),
           Config(dict(vocabulary_size=10, num_layers=1, num_heads=1, hidden_dim=8,
                       intermediate_dim=8, num_mels=8, max_encoder_sequence_length=16,
                       max_decoder_sequence_length=8),
                  {"encoder_features": In((1, 16, 8)), "decoder_token_ids": In((1, 8), "int32"),
                   "decoder_padding_mask": In((1, 8), "int32")},
                  "1 head of 8; 8 mels = hidden = decoder length = 8; batch 1")),
    Family("MoonshineBackbone",
           Config(dict(vocabulary_size=10000, filter_dim=64, encoder_num_layers=2,
                       decoder_num_layers=2, hidden_dim=64, intermediate_dim=512,
                       encoder_num_heads=8, decoder_num_heads=8, feedforward_expansion_factor=4,
                       encoder_use_swiglu_activation=False, decoder_use_swiglu_activation=True,
                       max_position_embeddings=2048, pad_head_dim_to_multiple_of=None,
                       partial_rotary_factor=0.62, dropout=0.0, initializer_range=0.02,
                       rope_theta=10000.0, attention_bias=False, attention_dropout=0.0),
                  {"encoder_input_values": In((2, 16000, 1), "float32", "uniform"),
                   "decoder_token_ids": In((2, 10), "int32", "randint:10000"),
                   "encoder_padding_mask": In((2, 16000), "bool"),
                   "decoder_padding_mask": In((2, 10), "bool")}),
           Config(dict(vocabulary_size=10, filter_dim=8, encoder_num_layers=1,
                       decoder_num_layers=1, hidden_dim=8, intermediate_dim=8,
                       encoder_num_heads=1, decoder_num_heads=1, feedforward_expansion_factor=1,
                       max_position_embeddings=64, partial_rotary_factor=0.5),
                  {"encoder_input_values": In((1, 3072, 1), "float32", "uniform"),
                   "decoder_token_ids": In((1, 8), "int32"),
                   "encoder_padding_mask": In((1, 3072), "bool"),
                   "decoder_padding_mask": In((1, 8), "bool")},
                  "1 head of 8; 3072 samples (8 frames) = hidden = decoder length = 8; batch 1")),
    # -- vision transformers ---------------------------------------------------------------
    Family("ViTBackbone",
           Config(dict(image_shape=(28, 28, 3), patch_size=(4, 4), num_layers=3, hidden_dim=48,
                       num_heads=6, mlp_dim=48 * 4, use_mha_bias=True), images(2, 28)),
           Config(dict(image_shape=(8, 8, 3), patch_size=(4, 4), num_layers=1, hidden_dim=4,
                       num_heads=1, mlp_dim=4, use_class_token=False), images(1, 8),
                  "1 head of 4; 8x8 in 4x4 patches, no class token: 4 tokens, 4 wide; batch 1")),
    Family("DeiTBackbone",
           Config(dict(image_shape=(28, 28, 3), patch_size=4, num_layers=3, hidden_dim=48,
                       num_heads=6, intermediate_dim=48 * 4, use_mha_bias=True), images(2, 28)),
           Config(dict(image_shape=(8, 8, 3), patch_size=4, num_layers=1, hidden_dim=6,
                       num_heads=6, intermediate_dim=6, use_mha_bias=False), images(1, 8),
                  "6 heads of 1; 4 patches + 2 tokens = 6 = hidden; no attention bias; batch 1")),
    Family("DINOV2Backbone",
           Config(dict(patch_size=14, num_layers=2, hidden_dim=16, num_heads=2,
                       intermediate_dim=16 * 4, layer_scale_init_value=1.0,
                       num_register_tokens=0, use_swiglu_ffn=False, image_shape=(70, 70, 3),
                       name="dinov2_backbone"), {"images": images(2, 70)}),
           Config(dict(patch_size=2, num_layers=1, hidden_dim=5, num_heads=1, intermediate_dim=8,
                       num_register_tokens=0, use_swiglu_ffn=True, image_shape=(4, 4, 3),
                       position_embedding_shape=(4, 4, 3)), {"images": images(1, 4)},
                  "1 head of 5; 4x4 in 2x2 patches + class token = 5 tokens = hidden; SwiGLU; batch 1")),
    Family("DINOV3Backbone",
           Config(dict(patch_size=16, num_layers=2, hidden_dim=16, num_heads=2,
                       intermediate_dim=16 * 4, layer_scale_init_value=1.0,
                       num_register_tokens=4, use_gated_mlp=False, image_shape=(64, 64, 3),
                       name="dinov3_backbone"), {"pixel_values": images(2, 64)}),
           Config(dict(patch_size=4, num_layers=1, hidden_dim=8, num_heads=1, intermediate_dim=8,
                       num_register_tokens=3, use_gated_mlp=True, image_shape=(8, 8, 3)),
                  {"pixel_values": images(1, 8)},
                  "1 head of 8; 4 patches + class + 3 registers = 8 tokens = hidden; gated MLP; batch 1")),
    *_clip_like("CLIP", "clip", 64, 77),
    *_clip_like("MetaCLIP2", "metaclip_2", 64, 77),
    *_clip_like("SigLIP", "siglip", 64, 64, projection=False),
    Family("SwinTransformerBackbone",
           Config(dict(image_shape=(32, 32, 3), embed_dim=32, depths=(2, 2), num_heads=(2, 4),
                       window_size=4), images(1, 32)),
           Config(dict(image_shape=(8, 8, 3), embed_dim=4, depths=(1, 1), num_heads=(1, 1),
                       window_size=2, patch_size=2), images(1, 8),
                  "1 head; 8x8 in 2x2 patches: a 4x4 map in 2x2 windows, then 2x2; embed 4")),
    Family("MiTBackbone",
           Config(dict(layerwise_depths=[2, 2], image_shape=(32, 32, 3), hidden_dims=[4, 8],
                       num_layers=2, layerwise_num_heads=[1, 2], layerwise_sr_ratios=[8, 4],
                       max_drop_path_rate=0.1, layerwise_patch_sizes=[7, 3],
                       layerwise_strides=[4, 2]), images(2, 32)),
           Config(dict(layerwise_depths=[1, 1], image_shape=(8, 8, 3), hidden_dims=[4, 4],
                       num_layers=2, layerwise_num_heads=[1, 4], layerwise_sr_ratios=[2, 1],
                       max_drop_path_rate=0.0, layerwise_patch_sizes=[3, 3],
                       layerwise_strides=[2, 2]), images(1, 8),
                  "4x4 then 2x2 maps, 4 wide; 1 head of 4, then 4 heads of 1; batch 1")),
    Family("SegFormerBackbone",
           Config(dict(projection_filters=256,
                       image_encoder=Make("MiTBackbone", layerwise_depths=[2, 2],
                                          image_shape=(32, 32, 3), hidden_dims=[4, 8],
                                          num_layers=2, layerwise_num_heads=[1, 2],
                                          layerwise_sr_ratios=[8, 4], max_drop_path_rate=0.1,
                                          layerwise_patch_sizes=[7, 3],
                                          layerwise_strides=[4, 2])),
                  images(2, 32)),
           Config(dict(projection_filters=4,
                       image_encoder=Make("MiTBackbone", layerwise_depths=[1, 1],
                                          image_shape=(8, 8, 3), hidden_dims=[4, 8],
                                          num_layers=2, layerwise_num_heads=[1, 8],
                                          layerwise_sr_ratios=[2, 1], max_drop_path_rate=0.0,
                                          layerwise_patch_sizes=[3, 3],
                                          layerwise_strides=[2, 2])),
                  images(1, 8), "MiT of a 4x4 map (1 head of 4) and a 2x2 map (8 heads of 1); projection 4; batch 1")),
    Family("ViTDetBackbone",
           Config(dict(image_shape=(16, 16, 3), patch_size=2, hidden_size=4, num_layers=2,
                       global_attention_layer_indices=[2, 5, 8, 11], intermediate_dim=4 * 4,
                       num_heads=2, num_output_channels=2, window_size=2), images(1, 16)),
           Config(dict(image_shape=(8, 8, 3), patch_size=2, hidden_size=4, num_layers=2,
                       global_attention_layer_indices=[1], intermediate_dim=4, num_heads=1,
                       num_output_channels=4, window_size=2), images(1, 8),
                  "1 head of 4; a 4x4 map in 2x2 windows, then global; 4 channels throughout")),
    Family("VideoPrismBackbone",
           Config(dict(image_shape=(28, 28, 3), num_frames=4, patch_size=4, hidden_dim=16,
                       intermediate_dim=32, num_heads=2, num_spatial_layers=1,
                       num_temporal_layers=1, num_auxiliary_layers=1, vocabulary_size=0,
                       num_text_layers=0), In((2, 4, 28, 28, 3))),
           Config(dict(image_shape=(8, 8, 3), num_frames=4, patch_size=4, hidden_dim=4,
                       intermediate_dim=4, num_heads=1, num_spatial_layers=1,
                       num_temporal_layers=1, num_auxiliary_layers=0), In((1, 4, 8, 8, 3)),
                  "1 head of 4; 4 frames of 4 patches, 4 wide; batch 1")),
    Family("PARSeqBackbone",
           Config(dict(image_encoder=_vit_encoder(32, 128, (4, 8), 64, 2, 256),
                       vocabulary_size=97, max_label_length=25, decoder_hidden_dim=64,
                       num_decoder_layers=1, num_decoder_heads=2, decoder_mlp_dim=256,
                       dropout_rate=0.0, attention_dropout=0.0),
                  {"images": images(2, 32, 128, fill="normal"),
                   "token_ids": In((2, 25), "int32", "randint:97"),
                   "padding_mask": In((2, 25), "int32")}),
           Config(dict(image_encoder=_vit_encoder(8, 16, (4, 4), 8, 1, 8),
                       vocabulary_size=10, max_label_length=7, decoder_hidden_dim=8,
                       num_decoder_layers=1, num_decoder_heads=1, decoder_mlp_dim=8,
                       dropout_rate=0.0, attention_dropout=0.0),
                  {"images": images(1, 8, 16), "token_ids": In((1, 8), "int32"),
                   "padding_mask": In((1, 8), "int32")},
                  "1 head of 8 in encoder and decoder; 8 image tokens = 8 labels = hidden; batch 1")),
    Family("DepthAnythingBackbone",
           Config(dict(image_encoder=Make("DINOV2Backbone", patch_size=14, num_layers=4,
                                          hidden_dim=16, num_heads=2, intermediate_dim=64,
                                          layer_scale_init_value=1.0, num_register_tokens=0,
                                          image_shape=(126, 126, 3), apply_layernorm=True,
                                          name="image_encoder"),
                       reassemble_factors=[4, 2, 1, 0.5], neck_hidden_dims=[16, 32, 64, 128],
                       fusion_hidden_dim=128, head_hidden_dim=16, head_in_index=-1,
                       feature_keys=["stage1", "stage2", "stage3", "stage4"]),
                  images(2, 126)),
           Config(dict(image_encoder=Make("DINOV2Backbone", patch_size=14, num_layers=4,
                                          hidden_dim=4, num_heads=1, intermediate_dim=4,
                                          num_register_tokens=0, image_shape=(112, 112, 3),
                                          position_embedding_shape=(112, 112, 3),
                                          apply_layernorm=True, name="image_encoder"),
                       reassemble_factors=[4, 2, 1, 0.5], neck_hidden_dims=[4, 4, 4, 4],
                       fusion_hidden_dim=4, head_hidden_dim=4, head_in_index=-1,
                       feature_keys=["stage1", "stage2", "stage3", "stage4"]),
                  images(1, 112),
                  "DINOv2 of 1 head of 4 on an 8x8 patch map; every neck and head width 4; batch 1")),
    Family("BLIP2Backbone",
           Config(dict(vision_encoder=Make("BLIP2VisionEncoder", image_size=32, patch_size=4,
                                           num_layers=2, num_heads=2, hidden_dim=8,
                                           intermediate_dim=16, use_patch_bias=True,
                                           use_class_token=True, use_mha_bias=True,
                                           use_mlp_bias=True, dropout_rate=0.0,
                                           layer_norm_epsilon=1e-6, initializer_range=0.02,
                                           dtype="float32"),
                       qformer=Make("BLIP2QFormer", num_query_tokens=2, num_layers=2,
                                    num_heads=2, hidden_dim=4, intermediate_dim=8, vision_dim=8,
                                    cross_attention_frequency=1, dropout=0.0,
                                    layer_norm_epsilon=1e-6, dtype="float32"),
                       language_model=Make("BLIP2CustomOPT", vocabulary_size=14, num_layers=2,
                                           num_heads=2, hidden_dim=4, intermediate_dim=8,
                                           num_query_tokens=2, qformer_hidden_dim=4,
                                           max_sequence_length=10, dropout=0.0,
                                           language_projection=None, dtype="float32")),
                  {"images": images(2, 32), "token_ids": In((2, 5), "int32"),
                   "padding_mask": In((2, 5), "bool")}),
           Config(dict(vision_encoder=Make("BLIP2VisionEncoder", image_size=8, patch_size=4,
                                           num_layers=1, num_heads=1, hidden_dim=5,
                                           intermediate_dim=5, use_patch_bias=False,
                                           use_class_token=True, use_mha_bias=False,
                                           use_mlp_bias=False, dropout_rate=0.0,
                                           layer_norm_epsilon=1e-6, initializer_range=0.02),
                       qformer=Make("BLIP2QFormer", num_query_tokens=1, num_layers=1,
                                    num_heads=1, hidden_dim=4, intermediate_dim=4, vision_dim=5,
                                    cross_attention_frequency=1, dropout=0.0,
                                    layer_norm_epsilon=1e-6),
                       language_model=Make("BLIP2CustomOPT", vocabulary_size=10, num_layers=1,
                                           num_heads=1, hidden_dim=4, intermediate_dim=4,
                                           num_query_tokens=1, qformer_hidden_dim=4,
                                           max_sequence_length=8, dropout=0.0,
                                           language_projection=None)),
                  {"images": images(1, 8), "token_ids": In((1, 4), "int32"),
                   "padding_mask": In((1, 4), "bool")},
                  "1 head everywhere; 4 patches + class = 5 tokens = vision width; 1 query; batch 1")),
    Family("PaliGemmaBackbone",
           Config(_lm(256, 2, 2, 1, 8, 16, image_size=16, head_dim=4, vit_patch_size=4,
                      vit_num_layers=2, vit_num_heads=2, vit_hidden_dim=8,
                      vit_intermediate_dim=16),
                  {**tokens(2, 64), "images": images(2, 16, fill="uniform"),
                   "response_mask": In((2, 64), "int32", "zeros")}),
           Config(_lm(10, 1, 1, 1, 8, 8, image_size=8, head_dim=8, vit_patch_size=4,
                      vit_num_layers=1, vit_num_heads=1, vit_hidden_dim=4,
                      vit_intermediate_dim=4),
                  {**tokens(1, 8), "images": images(1, 8),
                   "response_mask": In((1, 8), "int32", "zeros")},
                  "1 head everywhere; 4 image tokens = ViT width; text 8 = hidden; batch 1")),
    Family("SAMBackbone",
           Config(dict(image_encoder=Make("ViTDetBackbone", hidden_size=16, num_layers=16,
                                          intermediate_dim=16 * 4, num_heads=16,
                                          global_attention_layer_indices=[2, 5, 8, 11],
                                          patch_size=16, num_output_channels=8, window_size=2,
                                          image_shape=(16, 16, 3)),
                       prompt_encoder=Make("SAMPromptEncoder", hidden_size=8,
                                           image_embedding_size=(8, 8),
                                           input_image_size=(16, 16), mask_in_channels=16),
                       mask_decoder=Make("SAMMaskDecoder", num_layers=2, hidden_size=16,
                                         intermediate_dim=32, num_heads=8, embedding_dim=8,
                                         num_multimask_outputs=3, iou_head_depth=3,
                                         iou_head_hidden_dim=8)),
                  {"images": images(2, 16), "points": In((2, 1, 2)), "labels": In((2, 1)),
                   "boxes": In((2, 1, 2, 2)), "masks": In((2, 0, 16, 16, 1), "float32", "zeros")}),
           Config(dict(image_encoder=Make("ViTDetBackbone", hidden_size=8, num_layers=2,
                                          intermediate_dim=8, num_heads=1,
                                          global_attention_layer_indices=[1], patch_size=4,
                                          num_output_channels=8, window_size=2,
                                          image_shape=(16, 16, 3)),
                       prompt_encoder=Make("SAMPromptEncoder", hidden_size=8,
                                           image_embedding_size=(4, 4),
                                           input_image_size=(16, 16), mask_in_channels=8),
                       mask_decoder=Make("SAMMaskDecoder", num_layers=1, hidden_size=8,
                                         intermediate_dim=8, num_heads=1, embedding_dim=8,
                                         num_multimask_outputs=1, iou_head_depth=1,
                                         iou_head_hidden_dim=8)),
                  {"images": images(1, 16), "points": In((1, 1, 2)), "labels": In((1, 1)),
                   "boxes": In((1, 1, 2, 2)), "masks": In((1, 0, 16, 16, 1), "float32", "zeros")},
                  "1 head everywhere, every width 8; a 4x4 image embedding; batch 1")),
    Family("SAM3PromptableConceptBackbone", Config(dict(_SAM3_PARTS), _SAM3_INPUTS),
           Config(_sam3_alt(), _SAM3_INPUTS, "1 head of 16 and 1 layer in every part"),
           source="sam3_pc_backbnoe_test.py"),
    Family("FluxBackbone",
           Config(dict(input_channels=64, hidden_size=256, mlp_ratio=2.0, num_heads=4, depth=2,
                       depth_single_blocks=4, axes_dim=[8, 28, 28], theta=10_000, use_bias=True,
                       guidance_embed=True, image_shape=(16, 64), text_shape=(16, 64),
                       image_ids_shape=(16, 3), text_ids_shape=(16, 3), y_shape=(64,)),
                  {"image": In((1, 16, 64)), "image_ids": In((1, 16, 3)), "text": In((1, 16, 64)),
                   "text_ids": In((1, 16, 3)), "y": In((1, 64)), "timesteps": In((1,)),
                   "guidance": In((1,))}),
           Config(dict(input_channels=16, hidden_size=16, mlp_ratio=1.0, num_heads=1, depth=1,
                       depth_single_blocks=1, axes_dim=[4, 6, 6], theta=10_000, use_bias=False,
                       guidance_embed=False, image_shape=(16, 16), text_shape=(16, 16),
                       image_ids_shape=(16, 3), text_ids_shape=(16, 3), y_shape=(16,)),
                  {"image": In((1, 16, 16)), "image_ids": In((1, 16, 3)), "text": In((1, 16, 16)),
                   "text_ids": In((1, 16, 3)), "y": In((1, 16)), "timesteps": In((1,)),
                   "guidance": In((1,))},
                  "1 head of 16; 16 tokens = 16 channels = hidden; no bias, no guidance")),
    Family("StableDiffusion3Backbone",
           Config(dict(mmdit_patch_size=2, mmdit_hidden_dim=16 * 2, mmdit_num_layers=2,
                       mmdit_num_heads=2, mmdit_position_size=192, mmdit_qk_norm=None,
                       mmdit_dual_attention_indices=None,
                       vae=Make("VAEBackbone", name="vae", **_SD3_VAE),
                       clip_l=Make("CLIPTextEncoder", vocabulary_size=20, embedding_dim=32,
                                   hidden_dim=32, num_layers=2, num_heads=2, intermediate_dim=64,
                                   intermediate_activation="quick_gelu",
                                   intermediate_output_index=-2, dtype="float16", name="clip_l"),
                       clip_g=Make("CLIPTextEncoder", vocabulary_size=20, embedding_dim=64,
                                   hidden_dim=64, num_layers=2, num_heads=2, intermediate_dim=128,
                                   intermediate_activation="gelu", intermediate_output_index=-2,
                                   dtype="float16", name="clip_g"),
                       image_shape=(64, 64, 3)),
                  {"images": images(2, 64), "latents": In((2, 8, 8, 16)),
                   "clip_l_token_ids": In((2, 5), "int32"),
                   "clip_l_negative_token_ids": In((2, 5), "int32"),
                   "clip_g_token_ids": In((2, 5), "int32"),
                   "clip_g_negative_token_ids": In((2, 5), "int32"),
                   "num_steps": In((2,), "int32"), "guidance_scale": In((2,))}),
           Config(dict(mmdit_patch_size=2, mmdit_hidden_dim=16, mmdit_num_layers=1,
                       mmdit_num_heads=1, mmdit_position_size=16, mmdit_qk_norm="rms_norm",
                       mmdit_dual_attention_indices=(0,),
                       vae=Make("VAEBackbone", name="vae", **_SD3_VAE),
                       clip_l=Make("CLIPTextEncoder", vocabulary_size=20, embedding_dim=8,
                                   hidden_dim=8, num_layers=1, num_heads=1, intermediate_dim=8,
                                   intermediate_activation="quick_gelu",
                                   intermediate_output_index=-1, name="clip_l"),
                       clip_g=Make("CLIPTextEncoder", vocabulary_size=20, embedding_dim=8,
                                   hidden_dim=8, num_layers=1, num_heads=1, intermediate_dim=8,
                                   intermediate_activation="gelu", intermediate_output_index=-1,
                                   name="clip_g"),
                       image_shape=(32, 32, 3)),
                  {"images": images(1, 32), "latents": In((1, 4, 4, 16)),
                   "clip_l_token_ids": In((1, 8), "int32"),
                   "clip_l_negative_token_ids": In((1, 8), "int32"),
                   "clip_g_token_ids": In((1, 8), "int32"),
                   "clip_g_negative_token_ids": In((1, 8), "int32"),
                   "num_steps": In((1,), "int32", [2]), "guidance_scale": In((1,))},
                  "MMDiT of 1 head of 16, RMS q/k norm, dual attention; float32 CLIPs of 1 head of 8; "
                  "2 steps")),
    Family("MMDiT",
           Config(dict(patch_size=2, hidden_dim=16 * 2, num_layers=2, num_heads=2,
                       position_size=192, latent_shape=(8, 8, 16), context_shape=(5, 64),
                       pooled_projection_shape=(96,)),
                  {"latent": In((2, 8, 8, 16)), "context": In((2, 5, 64)),
                   "pooled_projection": In((2, 96)), "timestep": In((2, 1))}),
           Config(dict(patch_size=2, hidden_dim=16, num_layers=1, num_heads=1, position_size=16,
                       mlp_ratio=1.0, latent_shape=(4, 4, 16), context_shape=(4, 16),
                       pooled_projection_shape=(16,), qk_norm="rms_norm",
                       dual_attention_indices=(0,)),
                  {"latent": In((1, 4, 4, 16)), "context": In((1, 4, 16)),
                   "pooled_projection": In((1, 16)), "timestep": In((1, 1))},
                  "1 head of 16 on a 2x2 patch map; 16 channels everywhere; RMS q/k norm, dual attention"),
           source="the MMDiT stable_diffusion_3_backbone_test.py builds (its context 64 wide "
                  "for the test's CLIP encoders, pooled 96)"),
    # -- convnets ---------------------------------------------------------------------------
    Family("ResNetBackbone",
           Config(dict(input_conv_filters=[64], input_conv_kernel_sizes=[7],
                       stackwise_num_filters=[64, 64, 64], stackwise_num_blocks=[2, 2, 2],
                       stackwise_num_strides=[1, 2, 2], image_shape=(None, None, 3),
                       block_type="bottleneck_block", use_pre_activation=False), images(2, 64)),
           Config(dict(input_conv_filters=[8], input_conv_kernel_sizes=[3],
                       stackwise_num_filters=[64, 8, 8], stackwise_num_blocks=[1, 1, 1],
                       stackwise_num_strides=[1, 2, 2], image_shape=(16, 16, 3),
                       block_type="bottleneck_block", use_pre_activation=True), images(1, 16),
                  "pre-activation bottlenecks 64, 8, 8 wide (keras-hub wants 64 first); 16x16 down to a 1x1 map; batch 1")),
    Family("CSPNetBackbone",
           Config(dict(stem_filters=32, stem_kernel_size=3, stem_strides=1, stackwise_strides=2,
                       stackwise_depth=[1, 2, 8], stackwise_num_filters=[16, 24, 48],
                       image_shape=(None, None, 3), down_growth=True, bottle_ratio=(0.5, 1.0),
                       block_ratio=(1.0, 0.5), expand_ratio=(2.0, 1.0), block_type="dark_block",
                       stage_type="csp", stem_padding="same"), images(2, 64)),
           Config(dict(stem_filters=8, stem_kernel_size=3, stem_strides=2, stackwise_strides=2,
                       stackwise_depth=[1, 1], stackwise_num_filters=[8, 8],
                       image_shape=(8, 8, 3), down_growth=True, bottle_ratio=(0.5, 1.0),
                       block_ratio=(1.0, 0.5), expand_ratio=(2.0, 1.0), block_type="dark_block",
                       stage_type="csp", stem_padding="same"), images(1, 8),
                  "csp stages of dark blocks, 8 wide; 8x8 down to 1x1; batch 1")),
    Family("DenseNetBackbone",
           Config(dict(stackwise_num_repeats=[2, 4, 6, 4], compression_ratio=0.5, growth_rate=2,
                       image_shape=(32, 32, 3)), images(2, 32)),
           Config(dict(stackwise_num_repeats=[1, 1, 1, 1], compression_ratio=1.0, growth_rate=1,
                       image_shape=(32, 32, 3)), images(1, 32),
                  "growth 1, no compression; 32x32 down to a 1x1 map; batch 1")),
    Family("EfficientNetBackbone", Config(_EFFICIENTNET_TEST, images(8, 224)),
           Config(dict(stackwise_width_coefficients=[1.0, 1.0],
                       stackwise_depth_coefficients=[1.0, 1.0], stackwise_kernel_sizes=[3, 3],
                       stackwise_num_repeats=[1, 1], stackwise_input_filters=[8, 8],
                       stackwise_output_filters=[8, 16], stackwise_expansion_ratios=[1, 4],
                       stackwise_squeeze_and_excite_ratios=[0.25, 0.25],
                       stackwise_strides=[1, 2], stackwise_block_types=["fused", "unfused"],
                       stackwise_force_input_filters=[0, 0], stackwise_nores_option=[False, False],
                       input_shape=(8, 8, 3), num_features=16), images(1, 8),
                  "one fused and one unfused block; 8x8 down to a 2x2 map; batch 1")),
    Family("HGNetV2Backbone",
           Config(dict(embedding_size=32, stem_channels=[3, 16, 32], hidden_act="relu",
                       use_learnable_affine_block=False, image_shape=(64, 64, 3), depths=[1, 1],
                       hidden_sizes=[64, 128],
                       stackwise_stage_filters=[[32, 16, 64, 1, 1, 3], [64, 32, 128, 1, 1, 3]],
                       apply_downsample=[False, True], use_lightweight_conv_block=[False, False],
                       out_features=["stem", "stage1", "stage2"]),
                  images(2, 64, fill="uniform")),
           Config(dict(embedding_size=8, stem_channels=[3, 8, 8], hidden_act="relu",
                       use_learnable_affine_block=True, image_shape=(8, 8, 3), depths=[1, 1],
                       hidden_sizes=[8, 8],
                       stackwise_stage_filters=[[8, 8, 8, 1, 1, 3], [8, 8, 8, 1, 1, 3]],
                       apply_downsample=[True, True], use_lightweight_conv_block=[True, True],
                       out_features=["stage1", "stage2"]),
                  images(1, 8),
                  "lightweight blocks, learnable affine, 8 wide; 8x8 down to 1x1; batch 1")),
    Family("MobileNetBackbone", Config(_MOBILENET_TEST, images(2, 32)),
           Config(dict(stackwise_expansion=[[1, 4]], stackwise_num_blocks=[2],
                       stackwise_num_filters=[[8, 8]], stackwise_kernel_size=[[3, 3]],
                       stackwise_num_strides=[[2, 1]], stackwise_se_ratio=[[0.25, 0.25]],
                       stackwise_activation=[["relu", "hard_swish"]],
                       stackwise_padding=[[1, 1]], output_num_filters=16, depthwise_filters=8,
                       depthwise_stride=2, depthwise_residual=False, last_layer_filter=16,
                       squeeze_and_excite=0.75, image_shape=(8, 8, 3), input_num_filters=8),
                  images(1, 8), "expansion 1 and 4, squeeze-and-excite; 8x8 down to 1x1; batch 1")),
    Family("MobileNetV5Backbone", Config(_MOBILENETV5_TEST, images(2, 32)),
           Config(dict(stackwise_block_types=[["er"], ["uir", "mqa"]], stackwise_num_blocks=[1, 2],
                       stackwise_num_filters=[[8], [8, 8]], stackwise_strides=[[2], [2, 1]],
                       stackwise_act_layers=[["relu"], ["gelu", "gelu"]],
                       stackwise_exp_ratios=[[1.0], [1.0, 1.0]],
                       stackwise_se_ratios=[[0.0], [0.0, 0.0]],
                       stackwise_dw_kernel_sizes=[[0], [3, 0]],
                       stackwise_dw_start_kernel_sizes=[[0], [0, 0]],
                       stackwise_dw_end_kernel_sizes=[[0], [0, 0]],
                       stackwise_exp_kernel_sizes=[[3], [0, 0]],
                       stackwise_pw_kernel_sizes=[[1], [0, 0]],
                       stackwise_num_heads=[[0], [0, 1]], stackwise_key_dims=[[0], [0, 8]],
                       stackwise_value_dims=[[0], [0, 8]], stackwise_kv_strides=[[0], [0, 1]],
                       stackwise_use_cpe=[[False], [False, False]], image_shape=(8, 8, 3),
                       stem_size=8, num_features=8, use_msfa=False),
                  images(1, 8), "a multi-query attention block of 1 head of 8; 8x8 down to 1x1; 8 wide")),
    Family("VGGBackbone",
           Config(dict(stackwise_num_repeats=[2, 3, 3], stackwise_num_filters=[8, 64, 64],
                       image_shape=(16, 16, 3)), images(2, 16)),
           Config(dict(stackwise_num_repeats=[1, 1], stackwise_num_filters=[4, 4],
                       image_shape=(4, 4, 3)), images(1, 4), "4x4 down to 1x1; 4 wide; batch 1")),
    Family("XceptionBackbone",
           Config(dict(stackwise_conv_filters=[[32, 64], [128, 128], [256, 256]],
                       stackwise_pooling=[False, True, False], image_shape=(None, None, 3)),
                  images(2, 64)),
           Config(dict(stackwise_conv_filters=[[8, 8], [16, 16], [16, 16]],
                       stackwise_pooling=[False, True, False],
                       image_shape=(16, 16, 3)), images(1, 16),
                  "8, 16, 16 wide; 16x16 down to a 4x4 map; batch 1")),
    Family("DeepLabV3Backbone",
           Config(dict(image_encoder=_resnet((64, 64, 64), (2, 2, 2), (1, 2, 2)),
                       low_level_feature_key="P2", spatial_pyramid_pooling_key="P4",
                       dilation_rates=[6, 12, 18], upsampling_size=4, image_shape=(96, 96, 3)),
                  images(2, 96)),
           Config(dict(image_encoder=_resnet((64, 8), (1, 1), (1, 2), "bottleneck_block", stem=8,
                                             kernel=3, image_shape=(32, 32, 3)),
                       spatial_pyramid_pooling_key="P3", upsampling_size=2, dilation_rates=[2, 4],
                       low_level_feature_key="P2", projection_filters=8, image_shape=(32, 32, 3)),
                  images(1, 32), "the tests' own small DeepLab (tests/test_keras_hub.py); batch 1")),
    Family("RetinaNetBackbone",
           Config(dict(image_encoder=_resnet((64, 128, 256, 512), (3, 4, 6, 3), (1, 2, 2, 2),
                                             "bottleneck_block"),
                       min_level=3, max_level=7, use_p5=True), images(2, 256)),
           Config(dict(image_encoder=_resnet((64, 8, 8, 8), (1, 1, 1, 1), (1, 2, 2, 2),
                                             "basic_block", stem=64, kernel=3),
                       min_level=3, max_level=5, use_p5=False, use_fpn_batch_norm=True),
                  images(1, 32), "basic blocks 64, 8, 8, 8 wide; levels 3-5 on 32x32 (a 1x1 P5); FPN batch norm")),
    Family("BASNetBackbone",
           Config(dict(image_encoder=_resnet((64, 128, 256, 512), (2, 2, 2, 2), (1, 2, 2, 2),
                                             "basic_block"),
                       num_classes=1), images(2, 64)),
           Config(dict(image_encoder=_resnet((64, 8, 8, 8), (1, 1, 1, 1), (1, 2, 2, 2),
                                             "basic_block", stem=64, kernel=3),
                       num_classes=2, image_shape=(32, 32, 3)),
                  images(1, 32), "ResNet of basic blocks 64, 8, 8, 8 wide; 2 classes; 32x32 down to 1x1; batch 1")),
    Family("DFineBackbone",
           Config(dict(_DFINE, backbone=Make("HGNetV2Backbone", **_DFINE_HGNET)),
                  images(2, 32, fill="uniform")),
           Config(dict(_DFINE, backbone=Make("HGNetV2Backbone", **_DFINE_HGNET),
                       num_attention_heads=1, decoder_attention_heads=1, num_decoder_layers=1,
                       num_queries=4, num_denoising=0, eval_idx=-1),
                  images(1, 32, fill="uniform"),
                  "1 head in encoder and decoder, 1 decoder layer, 4 queries, no denoising; batch 1")),
    Family("VAEBackbone",
           Config(dict(_SD3_VAE), images(2, 64)),
           Config(dict(_SD3_VAE, encoder_num_blocks=[1, 1, 1, 1], sample_channels=4),
                  images(1, 16), "16x16 down to 2x2; 4 latent channels; batch 1")),
    Family("RQVAEBackbone",
           Config(dict(input_dim=16, encoder_layer_dims=[32, 16], output_dim=8,
                       decoder_layer_dims=[16, 32], num_embeddings=4, num_quantizers=2,
                       decay=0.99, data_variance=1.0, commitment_cost=0.25), In((2, 16))),
           Config(dict(input_dim=4, encoder_layer_dims=[4], output_dim=4, decoder_layer_dims=[4],
                       num_embeddings=4, num_quantizers=1), In((1, 4)),
                  "every width 4, one quantizer; batch 1")),
]


def families():
    """`FAMILIES` by class name."""
    return {f.cls: f for f in FAMILIES}


def config_names(which=("test", "alt")):
    """Every configuration's name, ``"<class>/test"`` and ``"<class>/alt"``, in table order."""
    names = []
    for kind in which:
        for family in FAMILIES:
            if getattr(family, kind) is not None:
                names.append(f"{family.cls}/{kind}")
    return names


def lookup(name):
    """``(Family, Config, kind)`` of ``"<class>/<test|alt>"``."""
    cls, _, kind = name.partition("/")
    family = families()[cls]
    config = getattr(family, kind or "test")
    if config is None:
        raise KeyError(name)
    return family, config, kind or "test"
