"""augment.inpaint with a tiny randomly initialised Stable Diffusion inpainting pipeline, built
the way diffusers' own tests build theirs (get_dummy_components), with a CLIP tokenizer made here
from a byte-level vocabulary, saved to a folder and loaded by path: nothing is downloaded."""

from __future__ import annotations

import json

import numpy as np
import pytest

from datapipe.records import CameraStream
from datapipe.records.synthetic import synthetic_episode

pytest.importorskip("diffusers")
pytest.importorskip("transformers")


def _byte_vocab() -> list[str]:
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars, extra = [], 0
    for b in range(256):
        chars.append(chr(b) if b in printable else chr(256 + (extra := extra + 1) - 1))
    return chars


def tiny_inpainting_pipeline(folder) -> None:
    import torch
    from diffusers import AutoencoderKL, PNDMScheduler, StableDiffusionInpaintPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=2,
        sample_size=32,
        in_channels=9,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
    )
    scheduler = PNDMScheduler(skip_prk_steps=True)
    vae = AutoencoderKL(
        block_out_channels=[32, 64],
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
        up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"],
        latent_channels=4,
        sample_size=128,
    )
    chars = _byte_vocab()
    vocab = {c: i for i, c in enumerate(chars)} | {c + "</w>": 256 + i for i, c in enumerate(chars)}
    vocab |= {"<|startoftext|>": 512, "<|endoftext|>": 513}
    tok_dir = folder.parent / "tokenizer_src"
    tok_dir.mkdir()
    (tok_dir / "vocab.json").write_text(json.dumps(vocab))
    (tok_dir / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = CLIPTokenizer(str(tok_dir / "vocab.json"), str(tok_dir / "merges.txt"), model_max_length=77)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            bos_token_id=512,
            eos_token_id=513,
            pad_token_id=513,
            hidden_size=32,
            intermediate_size=37,
            layer_norm_eps=1e-05,
            num_attention_heads=4,
            num_hidden_layers=5,
            vocab_size=1000,
        )
    )
    pipe = StableDiffusionInpaintPipeline(
        unet=unet,
        scheduler=scheduler,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        safety_checker=None,
        feature_extractor=None,
        image_encoder=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(folder)


@pytest.fixture(scope="module")
def pipeline_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inpaint") / "tiny-sd-inpaint"
    tiny_inpainting_pipeline(folder)
    return folder


def test_plate_mode_changes_only_masked_pixels(pipeline_folder):
    from datapipe.stages.augment.inpaint import Inpaint, InpaintConfig

    frames = np.zeros((5, 32, 32, 3), dtype=np.uint8)
    frames[..., 1] = 210  # a green screen
    frames[:, 8:24, 8:24] = [190, 40, 40]  # the scene, kept
    ep = synthetic_episode(0, 0, length=5).replace(
        cameras={"front": CameraStream.from_frames(frames, 10.0, "jpeg", 100)}
    )
    stage = Inpaint(InpaintConfig(model=str(pipeline_folder), mask="chroma", steps=2, size=64, keep_original=False))
    stage.setup()
    (out,) = stage.process(ep)
    after = out.cameras["front"].frames().astype(int)
    before = ep.cameras["front"].frames().astype(int)
    assert np.abs(after[:, 10:22, 10:22] - before[:, 10:22, 10:22]).mean() < 4  # unmasked: kept (JPEG noise)
    assert np.abs(after[:, :6] - before[:, :6]).mean() > 10  # masked: redrawn
    assert np.abs(after[0, :6] - after[-1, :6]).mean() < 3  # one plate for every frame: no flicker
    params = out.meta["augmentation"]["params"]
    assert params["cameras"]["front"]["calls"] == 1 and params["model"] == str(pipeline_folder)
    assert out.source.kind == "augmented" and "{" not in params["prompt"]
    # before encoding, the plate changes exactly the masked pixels and no other
    from datapipe.augment.backgrounds import chroma_mask

    raw = ep.cameras["front"].frames()
    mask = chroma_mask(raw)
    painted, info = stage.inpainter.episode(raw, mask, "a wooden table", seed=1, mode="plate")
    assert np.array_equal(painted[~mask], raw[~mask]) and not np.array_equal(painted[mask], raw[mask])
    per_frame, info = stage.inpainter.episode(raw[:2], mask[:2], "a wooden table", seed=1, mode="frame")
    assert info["calls"] == 2 and np.array_equal(per_frame[~mask[:2]], raw[:2][~mask[:2]])
