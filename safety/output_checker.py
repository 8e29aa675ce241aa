"""DeepFloyd IF's own output safety checker, for checkpoints that ship it.

An IF stage-I folder written by diffusers' `IFPipeline.save_pretrained` has `safety_checker/` (diffusers'
`IFSafetyChecker`: a CLIP vision tower with two linear heads, `p_head` for NSFW content and `w_head`
for visible watermarks such as stock-photo marks) and `feature_extractor/` (transformers'
`CLIPImageProcessor`). `IFOutputChecker` runs them on each finished image the way `IFPipeline` does:
a score above a head's threshold replaces the image with a black one of the same size.

    checker = IFOutputChecker.from_folder("models/IF-I-XL-v1.0")  # None: the folder has no checker
    image, flagged = checker(image)

The prompt filter refuses requests before any model work; this is the second line, for what a
harmless-looking prompt produced anyway. It is a `cascade.safeguards.OutputChecker`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import PIL.Image
import torch

__all__ = ["IFOutputChecker"]

logger = logging.getLogger(__name__)


class IFOutputChecker:
    """IF's safety checker as a callable `image -> (image or a black image, flagged)`."""

    def __init__(
        self, model: torch.nn.Module, processor: object, p_threshold: float = 0.5, w_threshold: float = 0.5
    ):
        self.model = model.eval()
        self.processor = processor
        self.p_threshold = p_threshold  # IFPipeline's defaults
        self.w_threshold = w_threshold

    @classmethod
    def from_folder(
        cls, stage_dir: str | Path, device: str | torch.device = "cpu", **thresholds: float
    ) -> IFOutputChecker | None:
        """The checker saved with an IF stage-I folder, or None when the folder has none."""
        stage_dir = Path(stage_dir)
        checker_dir, processor_dir = stage_dir / "safety_checker", stage_dir / "feature_extractor"
        if not (checker_dir.is_dir() and processor_dir.is_dir()):
            return None
        from transformers import CLIPImageProcessor

        model = _checker_class().from_pretrained(checker_dir, local_files_only=True).to(device)
        processor = CLIPImageProcessor.from_pretrained(processor_dir, local_files_only=True)
        return cls(model, processor, **thresholds)

    @torch.no_grad()
    def __call__(self, image: PIL.Image.Image) -> tuple[PIL.Image.Image, bool]:
        """The image, or a black RGB image of the same size when a head flags it; and the flag."""
        rgb = image.convert("RGB")
        parameter = next(self.model.parameters())
        pixels = self.processor(images=rgb, return_tensors="pt").pixel_values
        pixels = pixels.to(device=parameter.device, dtype=parameter.dtype)
        _, nsfw, marked = self.model(
            clip_input=pixels,
            images=[np.asarray(rgb)],
            p_threshold=self.p_threshold,
            w_threshold=self.w_threshold,
        )
        flagged = bool(nsfw[0] or marked[0])
        if not flagged:
            return image, False
        logger.info("IF safety checker flagged an image (nsfw=%s, watermark=%s)", nsfw[0], marked[0])
        return PIL.Image.new("RGB", image.size), True


def _checker_class() -> type:
    from diffusers.pipelines.deepfloyd_if.safety_checker import IFSafetyChecker

    class Checker(IFSafetyChecker):
        """diffusers' `IFSafetyChecker`, finished with `post_init()` as transformers 5's loader expects
        (without it `from_pretrained` fails on a missing `all_tied_weights_keys`)."""

        def __init__(self, config: object):
            super().__init__(config)
            self.post_init()

    return Checker
