"""The model families the platform knows: what each needs on disk, can do, and reads of a prompt.

Why: a checkpoint's ``model_index.json`` names its pipeline class; from that class this module
knows the family (Stable Diffusion 1.x/2.x, SDXL, SD3, PixArt-Alpha/Sigma, Flux), the components it
cannot run without, its modes, its native size, the schedulers that fit its training (flow
matching or not) and how many tokens of a prompt its text encoders read. The catalog uses it to
describe and refuse checkpoints by their family's name; the pipeline code uses it for the few
arguments a family's pipeline takes differently. Plain data: imports neither torch nor diffusers.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from importlib.util import find_spec
from pathlib import Path
from typing import Any

TEXT_TO_IMAGE = "text-to-image"
IMAGE_TO_IMAGE = "image-to-image"
INPAINTING = "inpainting"

#: Schedulers for denoising (epsilon / v-prediction) models, as the catalog offers them.
DENOISING_SCHEDULERS = (
    "DDIMScheduler",
    "EulerDiscreteScheduler",
    "EulerAncestralDiscreteScheduler",
    "DPMSolverMultistepScheduler",
    "PNDMScheduler",
    "LMSDiscreteScheduler",
)
#: Schedulers for flow-matching models (SD3, Flux): DDIM and its kin do not apply to them.
FLOW_MATCHING_SCHEDULERS = ("FlowMatchEulerDiscreteScheduler",)

CLIP = "CLIP"
T5 = "T5"


@dataclass(frozen=True)
class Family:
    """One model family: its pipeline classes per mode and what it needs and reads."""

    name: str
    label: str
    #: Pipeline class per mode the family has in diffusers.
    pipelines: dict[str, str]
    #: Components ``model_index.json`` must list (and the folder must hold) for it to run.
    required: tuple[str, ...]
    #: The tokenizer whose limit is the prompt's (the longest-reading encoder), and its kind.
    prompt_tokenizer: str
    encoder: str
    #: Tokens of a prompt the family's pipeline passes to that encoder (start/end included).
    prompt_tokens: int
    schedulers: tuple[str, ...] = DENOISING_SCHEDULERS
    #: Pixel sides the denoiser's latent is multiplied by (the VAE's factor, times 2 where the
    #: transformer packs 2x2 latent patches, as Flux does) — sizes must be multiples of it.
    size_multiple_of_vae: int = 1
    #: Latent side the pipeline uses when the transformer's config has none (Flux: 128).
    default_sample_size: int | None = None
    #: Optional components: if listed, this one changes the prompt limit (SD3 without T5).
    optional_t5: tuple[str, str] | None = None

    @property
    def flow_matching(self) -> bool:
        """Whether the family was trained with flow matching (no DDIM-style schedulers)."""
        return self.schedulers == FLOW_MATCHING_SCHEDULERS

    @property
    def capabilities(self) -> frozenset[str]:
        return frozenset(self.pipelines)


_SD_COMPONENTS = ("scheduler", "text_encoder", "tokenizer", "unet", "vae")

FAMILIES: dict[str, Family] = {
    family.name: family
    for family in (
        Family(
            name="stable-diffusion",
            label="Stable Diffusion 1.x/2.x",
            pipelines={
                TEXT_TO_IMAGE: "StableDiffusionPipeline",
                IMAGE_TO_IMAGE: "StableDiffusionImg2ImgPipeline",
                INPAINTING: "StableDiffusionInpaintPipeline",
            },
            required=_SD_COMPONENTS,
            prompt_tokenizer="tokenizer",
            encoder=CLIP,
            prompt_tokens=77,
        ),
        Family(
            name="stable-diffusion-xl",
            label="SDXL",
            pipelines={
                TEXT_TO_IMAGE: "StableDiffusionXLPipeline",
                IMAGE_TO_IMAGE: "StableDiffusionXLImg2ImgPipeline",
                INPAINTING: "StableDiffusionXLInpaintPipeline",
            },
            # The refiner has no first encoder: see ``required_components``.
            required=(*_SD_COMPONENTS, "text_encoder_2", "tokenizer_2"),
            prompt_tokenizer="tokenizer_2",
            encoder=CLIP,
            prompt_tokens=77,
        ),
        Family(
            name="stable-diffusion-3",
            label="Stable Diffusion 3",
            pipelines={
                TEXT_TO_IMAGE: "StableDiffusion3Pipeline",
                IMAGE_TO_IMAGE: "StableDiffusion3Img2ImgPipeline",
                INPAINTING: "StableDiffusion3InpaintPipeline",
            },
            required=(
                "scheduler",
                "text_encoder",
                "text_encoder_2",
                "tokenizer",
                "tokenizer_2",
                "transformer",
                "vae",
            ),
            prompt_tokenizer="tokenizer_3",
            encoder=T5,
            prompt_tokens=256,
            schedulers=FLOW_MATCHING_SCHEDULERS,
            optional_t5=("text_encoder_3", "tokenizer_3"),
        ),
        Family(
            name="pixart-alpha",
            label="PixArt-Alpha",
            pipelines={TEXT_TO_IMAGE: "PixArtAlphaPipeline"},
            required=("scheduler", "text_encoder", "tokenizer", "transformer", "vae"),
            prompt_tokenizer="tokenizer",
            encoder=T5,
            prompt_tokens=120,
        ),
        Family(
            name="pixart-sigma",
            label="PixArt-Sigma",
            pipelines={TEXT_TO_IMAGE: "PixArtSigmaPipeline"},
            required=("scheduler", "text_encoder", "tokenizer", "transformer", "vae"),
            prompt_tokenizer="tokenizer",
            encoder=T5,
            prompt_tokens=300,
        ),
        Family(
            name="flux",
            label="Flux",
            pipelines={
                TEXT_TO_IMAGE: "FluxPipeline",
                IMAGE_TO_IMAGE: "FluxImg2ImgPipeline",
                INPAINTING: "FluxInpaintPipeline",
            },
            required=(
                "scheduler",
                "text_encoder",
                "text_encoder_2",
                "tokenizer",
                "tokenizer_2",
                "transformer",
                "vae",
            ),
            prompt_tokenizer="tokenizer_2",
            encoder=T5,
            prompt_tokens=512,
            schedulers=FLOW_MATCHING_SCHEDULERS,
            size_multiple_of_vae=2,
            default_sample_size=128,
        ),
    )
}

_BY_CLASS = {cls: family for family in FAMILIES.values() for cls in family.pipelines.values()}


def family_of(pipeline_class: str | None) -> Family | None:
    """The family whose pipeline (any mode) ``pipeline_class`` is; None for others."""
    return _BY_CLASS.get(pipeline_class or "")


def family_label(pipeline_class: str | None) -> str:
    """How people call the family of ``pipeline_class`` (its class name when not known)."""
    family = family_of(pipeline_class)
    if family is not None:
        return family.label
    return pipeline_class or "Unknown pipeline"


def is_sdxl_refiner(index: dict[str, Any]) -> bool:
    """An SDXL refiner: image-to-image only, with the second (OpenCLIP) encoder alone."""
    return bool(index.get("requires_aesthetics_score")) or index.get("text_encoder") == [
        None,
        None,
    ]


def required_components(family: Family, index: dict[str, Any]) -> tuple[str, ...]:
    """The components ``index`` (a ``model_index.json``) must list for ``family`` to run."""
    if family.name == "stable-diffusion-xl" and is_sdxl_refiner(index):
        return tuple(c for c in family.required if c not in ("text_encoder", "tokenizer"))
    return family.required


def missing_components(family: Family, index: dict[str, Any], present: list[str]) -> list[str]:
    """Required components that ``model_index.json`` leaves out or sets to null."""
    return [name for name in required_components(family, index) if name not in present]


def family_problem(path: Path, index: dict[str, Any], family: Family) -> str | None:
    """Why a checkpoint of ``family`` at ``path`` cannot run, naming the family and the part
    (``SDXL model at X: text_encoder_2 is missing``); None when nothing is missing."""
    where = f"{family.label} model at {path}"
    present = [
        name
        for name, value in index.items()
        if not name.startswith("_")
        and isinstance(value, list)
        and len(value) == 2
        and value[0]
        and value[1]
    ]
    for name in missing_components(family, index, present):
        return (
            f"{where}: {name} is missing (model_index.json does not list it, and "
            f"{family.label} cannot run without it)"
        )
    for name in sorted(present):
        folder = path / name
        if name == "safety_checker":
            continue  # never loaded
        if not folder.is_dir():
            return (
                f"{where}: {name} is missing (model_index.json lists it but {folder} is not there)"
            )
        weights = [*folder.glob("*.safetensors"), *folder.glob("*.bin")]
        if (folder / "config.json").is_file() and not weights:
            return f"{where}: {name} has a config.json but no weights (*.safetensors or *.bin)"
        if name.startswith("tokenizer"):
            encoder = T5 if "T5" in str(index[name][1]) else CLIP
            if problem := tokenizer_problem(folder, encoder):
                return f"{where} cannot run on this machine: {problem}"
    return None


def prompt_tokenizer(family: Family, present: list[str]) -> tuple[str, str, int]:
    """(tokenizer component, encoder kind, tokens read) that bounds a prompt for this model.

    SD3 without its T5 encoder reads what its CLIP encoders read.
    """
    if family.optional_t5 is not None and family.optional_t5[1] not in present:
        return "tokenizer", CLIP, 77
    if family.name == "stable-diffusion-xl" and family.prompt_tokenizer not in present:
        return "tokenizer", CLIP, 77
    return family.prompt_tokenizer, family.encoder, family.prompt_tokens


def tokenizer_problem(folder: Path, encoder: str) -> str | None:
    """Why the tokenizer in ``folder`` cannot load on this machine, or None if it can.

    A T5 tokenizer needs either ``tokenizer.json`` (read by the ``tokenizers`` library) or
    ``spiece.model`` with the ``sentencepiece`` package installed.
    """
    if (folder / "tokenizer.json").is_file():
        return None
    if encoder == T5:
        if (folder / "spiece.model").is_file():
            if find_spec("sentencepiece") is None:
                return (
                    f"its T5 tokenizer ({folder.name}) has only spiece.model, which needs the "
                    "sentencepiece package, and it is not installed here (add a tokenizer.json "
                    "or install sentencepiece)"
                )
            return None
        return f"its T5 tokenizer ({folder.name}) has neither tokenizer.json nor spiece.model"
    if (folder / "vocab.json").is_file() and (folder / "merges.txt").is_file():
        return None
    return (
        f"its CLIP tokenizer ({folder.name}) has neither tokenizer.json nor vocab.json and "
        "merges.txt"
    )


@lru_cache(maxsize=32)
def _load_tokenizer(folder: str, _stamp: float) -> Any:
    # transformers' tokenizers read local files only here; imported late (the web process
    # calls this only when it counts a prompt's tokens).
    from transformers import AutoTokenizer

    # bandit: a local directory (local_files_only=True): nothing is downloaded.
    return AutoTokenizer.from_pretrained(folder, local_files_only=True)  # nosec B615


def count_prompt_tokens(model_path: str | Path, tokenizer: str, text: str) -> int | None:
    """Tokens ``text`` makes for the model's ``tokenizer`` (start and end tokens included).

    None when the tokenizer cannot be read on this machine (then only the character limit
    applies here; the encoder still cuts what it cannot read).
    """
    folder = Path(model_path) / tokenizer
    try:
        stamp = max(p.stat().st_mtime for p in folder.iterdir())
        loaded = _load_tokenizer(str(folder), stamp)
        return len(loaded(text, truncation=False)["input_ids"])
    except Exception:  # unreadable here (another machine's path, a missing package)
        return None


def pipeline_call_options(
    pipeline: Any,
    *,
    width: int,
    height: int,
    negative_prompt: str,
    on_step_end: Callable[..., dict[str, Any]],
) -> dict[str, Any]:
    """The keyword arguments that families' pipelines take differently, for one call.

    The size where the pipeline takes one (SD 1.x image-to-image follows its input image; SD3
    and Flux image-to-image would fall back to their native size); the per-step callback
    (PixArt still has the older ``callback``); PixArt's resolution binning off (it would
    generate at the nearest trained aspect ratio and resize) and its caption cleaning off (it
    needs packages a worker does not have, and the policy judged the prompt as written). An
    empty negative prompt is None, or "" where the pipeline's own default is "" (PixArt
    lower-cases it).
    """
    accepted = inspect.signature(type(pipeline).__call__).parameters
    default_negative = getattr(accepted.get("negative_prompt"), "default", None)
    options: dict[str, Any] = {
        "negative_prompt": negative_prompt or (default_negative if default_negative == "" else None)
    }
    if "width" in accepted and "height" in accepted:
        options.update(width=width, height=height)
    if "callback_on_step_end" in accepted:
        options["callback_on_step_end"] = on_step_end
    elif "callback" in accepted:

        def callback(step: int, timestep: Any, latents: Any) -> None:
            on_step_end(pipeline, step, timestep, {})

        options.update(callback=callback, callback_steps=1)
    if "use_resolution_binning" in accepted:
        options["use_resolution_binning"] = False
    if "clean_caption" in accepted:
        options["clean_caption"] = False
    return options


def takes_safety_checker(family: str | None) -> bool:
    """Whether the family's pipelines take ``safety_checker`` (Stable Diffusion 1.x/2.x)."""
    return family in (None, "stable-diffusion")


#: Image-to-image pipelines that encode image ``i`` with generator ``i`` without first repeating
#: a single input image for the batch (diffusers 0.42: an empty slice, then a crash).
_ENCODE_PER_GENERATOR = frozenset({"StableDiffusion3Img2ImgPipeline"})


def batch_inputs(pipeline: Any, inputs: dict[str, Any], count: int) -> dict[str, Any]:
    """``inputs`` with the init image given once per image where the pipeline needs that."""
    if count > 1 and type(pipeline).__name__ in _ENCODE_PER_GENERATOR and "image" in inputs:
        return inputs | {"image": [inputs["image"]] * count}
    return inputs
