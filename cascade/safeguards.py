"""What runs around generation: the prompt filter before any model work, output checks after.

Every way in (`generate()`, the server, batch rendering) goes through one `Safeguards` object held
by the `Cascade`, so no path can skip the filter or leave an image unmarked:

- `screen(prompt)` runs the prompt filter and raises `PromptRejected` before any encoder or U-Net
  work. Negative prompts are not screened: they steer away from what they name (docs/SAFETY.md).
- `finish(image)` runs IF's output safety checker where the checkpoint ships one (a flagged image is
  blanked, as IF does) and then embeds the invisible watermark. Previews go through it too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import PIL.Image
import torch

from cascade.errors import PromptRejected
from safety import SafetyVerdict, default_filter
from safety import watermark as image_watermark
from safety.audit import log_verdict
from safety.output_checker import IFOutputChecker

__all__ = ["PromptFilterFn", "Safeguards", "allow_everything", "for_if_checkpoint"]

PromptFilterFn = Callable[[str], SafetyVerdict]
OutputChecker = Callable[[PIL.Image.Image], tuple[PIL.Image.Image, bool]]


def allow_everything(prompt: str) -> SafetyVerdict:
    """A pass-through filter, for research use and for tests of other layers."""
    return SafetyVerdict(allowed=True)


@dataclass
class Safeguards:
    """The filter, the output checker and the watermark switch of one cascade.

    `prompt_filter=None` means the default filter (default policy, semantic layer on), built on
    first use. `log_prompts=False` logs verdicts without the prompt text (privacy mode).
    """

    prompt_filter: PromptFilterFn | None = None
    output_checker: OutputChecker | None = None
    watermark: bool = True
    log_prompts: bool = True

    def check(self, prompt: str) -> SafetyVerdict:
        """The verdict for `prompt`, logged (without the prompt text in privacy mode)."""
        check = self.prompt_filter or default_filter().check
        verdict = check(prompt)
        log_verdict(verdict, prompt, log_prompts=self.log_prompts)
        return verdict

    def screen(self, prompt: str) -> SafetyVerdict:
        """The verdict for an allowed prompt; raises `PromptRejected` for a refused one."""
        verdict = self.check(prompt)
        if not verdict.allowed:
            raise PromptRejected(verdict)
        return verdict

    def screen_each(self, prompts: Sequence[str]) -> list[SafetyVerdict]:
        """The verdict for each of `prompts`, each distinct prompt screened (and logged) once; raises
        `PromptRejected` for the first refused one, before any model work."""
        verdicts = {prompt: self.screen(prompt) for prompt in dict.fromkeys(prompts)}
        return [verdicts[prompt] for prompt in prompts]

    def finish(self, image: PIL.Image.Image) -> PIL.Image.Image:
        """The image as it may leave the process: checked (blanked if flagged), then watermarked."""
        if self.output_checker is not None:
            image, _ = self.output_checker(image)
        if self.watermark:
            image = image_watermark.embed(image)
        return image


def for_if_checkpoint(stage_I: Path, device: str | torch.device = "cpu") -> Safeguards:
    """The default safeguards plus IF's own output checker when the stage I folder ships one."""
    return Safeguards(output_checker=IFOutputChecker.from_folder(stage_I, device=device))
