"""Reading model folders: our `cascade.json` format and DeepFloyd IF folders as diffusers saves them.

Both end as the same thing, an `EncoderSpec` plus a list of `StageSpec`s whose `path` is a folder in
diffusers' layout (`unet/`, `scheduler/`, and `image_noising_scheduler/` or `low_res_scheduler/` + `vae/`).
Only JSON is read here (no torch), so planning and argument checks answer before any weights load;
`cascade.stages.loading` builds the stages from those folders.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from cascade.errors import CheckpointError
from cascade.sampling.solvers import solver_name_for
from cascade.stages import StageSpec

MANIFEST = "cascade.json"
FORMAT_NAME = "imagen-cascade"
FORMAT_VERSION = 1
IF_PIPELINES = {
    "IFPipeline": "base",
    "IFSuperResolutionPipeline": "super_resolution",
    "StableDiffusionUpscalePipeline": "latent_upscaler",
}
# DeepFloyd IF's own defaults (its README and diffusers' pipelines), so our call reproduces theirs.
IF_DEFAULTS: dict[str, dict[str, Any]] = {
    "base": {"steps": 100, "guidance": 7.0, "noise_level": None},
    "super_resolution": {"steps": 50, "guidance": 4.0, "noise_level": 250},
    "latent_upscaler": {"steps": 75, "guidance": 9.0, "noise_level": 100},
}
IF_MAX_TOKENS = 77


PACKAGE_PREFIX = "python:"


@dataclass(frozen=True)
class EncoderSpec:
    """Where the frozen encoder lives: a folder relative to the model, or `python:<module>` for an
    installed package whose `MODEL_DIR` holds it (so a frozen encoder is not copied into every model)."""

    path: str
    tokenizer: str
    max_length: int


def encoder_folder(root: Path, location: str) -> Path:
    """Resolve an encoder location from a manifest to a folder on this machine."""
    if not location.startswith(PACKAGE_PREFIX):
        return existing_folder(root / location, "text encoder")
    module_name = location.removeprefix(PACKAGE_PREFIX)
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        raise CheckpointError(root, f"text encoder package {module_name!r} is not installed") from None
    return existing_folder(module.MODEL_DIR, f"text encoder of package {module_name!r}")


@dataclass(frozen=True)
class CascadeSpec:
    root: str
    text_encoder: EncoderSpec
    stages: tuple[StageSpec, ...]

    def manifest(self) -> dict[str, Any]:
        return {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "text_encoder": asdict(self.text_encoder),
            "stages": [stage.to_json() for stage in self.stages],
        }


def read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise CheckpointError(path, "file is missing")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(path, f"is not valid JSON ({error})") from None
    if not isinstance(data, dict):
        raise CheckpointError(path, "must hold a JSON object")
    return data


def existing_folder(path: str | Path, what: str) -> Path:
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise CheckpointError(folder, f"{what} folder does not exist")
    return folder


def read_cascade_spec(root: Path) -> CascadeSpec:
    """Parse `cascade.json`, checking that every folder it names exists."""
    data = read_json(root / MANIFEST)
    if data.get("format") != FORMAT_NAME or data.get("version") != FORMAT_VERSION:
        raise CheckpointError(root / MANIFEST, f"expected format {FORMAT_NAME!r} version {FORMAT_VERSION}")
    try:
        encoder = EncoderSpec(**data["text_encoder"])
        stages = tuple(StageSpec(**stage) for stage in data["stages"])
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(root / MANIFEST, f"malformed manifest: {error}") from None
    if not stages:
        raise CheckpointError(root / MANIFEST, "names no stages")
    encoder_folder(root, encoder.path)
    for stage in stages:
        existing_folder(root / stage.path, f"stage {stage.name!r}")
    stages = tuple(
        replace(s, size_multiple=size_multiple(root / s.path, s.kind, s.space_to_depth)) for s in stages
    )
    return CascadeSpec(str(root), encoder, stages)


def size_multiple(folder: Path, kind: str, space_to_depth: int) -> int:
    """What a stage's output width and height must be multiples of, from its configs: a diffusers U-Net
    halves its input at every down block but the last; a latent stage samples at the VAE's scale."""
    unet = read_json(folder / "unet" / "config.json")
    factor = 2 ** (len(unet.get("down_block_types", ())) - 1) * space_to_depth
    if kind == "latent_upscaler":
        factor *= 2 ** (len(read_json(folder / "vae" / "config.json").get("block_out_channels", ())) - 1)
    return factor


def if_pipeline_kind(folder: Path) -> str:
    name = read_json(folder / "model_index.json").get("_class_name")
    if name not in IF_PIPELINES:
        raise CheckpointError(
            folder, f"pipeline {name!r} is not a DeepFloyd IF stage; expected {sorted(IF_PIPELINES)}"
        )
    return IF_PIPELINES[name]


def thresholding_of(scheduler_config: dict[str, Any]) -> dict[str, Any]:
    """The range control a diffusers scheduler config asks for, as our thresholding settings."""
    if scheduler_config.get("thresholding"):
        return {
            "mode": "dynamic",
            "percentile": scheduler_config.get("dynamic_thresholding_ratio", 0.995),
            "max_value": scheduler_config.get("sample_max_value", 1.5),
        }
    return {"mode": "static" if scheduler_config.get("clip_sample") else "none"}


def if_stage_spec(folder: Path, name: str, previous_resolution: int | None) -> StageSpec:
    """Describe an IF-format folder as a stage with IF's own defaults."""
    kind = if_pipeline_kind(folder)
    scheduler = read_json(folder / "scheduler" / "scheduler_config.json")
    unet = read_json(folder / "unet" / "config.json")
    if kind == "latent_upscaler":
        if previous_resolution is None:
            raise CheckpointError(folder, "an upscaler cannot be the first stage")
        resolution = previous_resolution * 4
    else:
        resolution = unet["sample_size"]
    return StageSpec(
        name=name,
        kind=kind,
        path=str(folder.resolve()),
        resolution=int(resolution),
        solver=solver_name_for(scheduler["_class_name"]),
        thresholding=thresholding_of(scheduler),
        use_encoder_mask=False,  # IF's pipelines give the U-Net no mask; neither do we, to match them
        text_encoder=str(folder.resolve()) if kind == "latent_upscaler" else None,
        size_multiple=size_multiple(folder, kind, 1),
        **IF_DEFAULTS[kind],
    )


def read_if_spec(
    stage_one: Path, stage_two: Path | None, stage_three: Path | None, text_encoder: Path | None
) -> CascadeSpec:
    if if_pipeline_kind(stage_one) != "base":
        raise CheckpointError(stage_one, "the first folder must be an IF stage I (IFPipeline) folder")
    stages = [if_stage_spec(stage_one, "I", None)]
    for name, folder in (("II", stage_two), ("III", stage_three)):
        if folder is not None:
            stages.append(
                if_stage_spec(existing_folder(folder, f"stage {name}"), name, stages[-1].resolution)
            )
    encoder_folder = text_encoder or stage_one / "text_encoder"
    existing_folder(encoder_folder, "text encoder")
    tokenizer = (
        encoder_folder if (encoder_folder / "tokenizer_config.json").is_file() else stage_one / "tokenizer"
    )
    encoder = EncoderSpec(str(encoder_folder.resolve()), str(tokenizer.resolve()), IF_MAX_TOKENS)
    return CascadeSpec(str(stage_one.resolve()), encoder, tuple(stages))


def is_if_folder(root: Path) -> bool:
    """An IF stage I folder as diffusers saves it (rather than our `cascade.json` format)."""
    return not (root / MANIFEST).is_file() and (root / "model_index.json").is_file()


def read_model_spec(
    path: str | Path,
    stage_two: Path | None = None,
    stage_three: Path | None = None,
    text_encoder: Path | None = None,
) -> CascadeSpec:
    """The stages of our own folder or of IF stage folders, from their JSON files: no weights read."""
    root = existing_folder(path, "model")
    if (root / MANIFEST).is_file():
        if stage_two or stage_three or text_encoder:
            raise CheckpointError(
                root, "stage_II/stage_III/text_encoder apply to IF folders, not cascade.json"
            )
        return read_cascade_spec(root)
    if is_if_folder(root):
        return read_if_spec(root, stage_two, stage_three, text_encoder)
    raise CheckpointError(root, f"not a model folder: no {MANIFEST} and no model_index.json")
