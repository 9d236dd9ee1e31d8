"""A style trained as several LoRA runs (members) and merged into one adapter: their average.

Why: on a small training set, where a LoRA's trait comes out varies with the training seed
(the demo style drew its outline in 0.53 to 0.88 of images over seeds, with misses that
differ from seed to seed). The average of two or three runs that differ only in their seed
keeps what they share, the trait, and thins out what each got wrong (a "model soup" of
adapters): bench/README.md, styles runs 51 on.

The average is exact, not an approximation: a LoRA update is ``scale * B @ A``, so the mean
of K updates of rank r is one update of rank K*r whose A stacks the members' A matrices and
whose B places the members' B matrices side by side, each divided by K (alpha grows with the
rank, so the scale ``alpha / r`` stays the members'). The merged file loads like any adapter.

Each member trains in its own folder (``member-<k>``) with seed ``seed + k``, and resumes
there; the merged adapter is written once every member has finished.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import torch

from generation.engine.lora import LoraTrainConfig, LoraTrainResult, lora_train
from generation.engine.lora_checkpoint import WEIGHTS_FILE, _canonical_header

__all__ = ["MAX_MEMBERS", "lora_average", "lora_train_members"]

MAX_MEMBERS = 8
#: The down (A) and up (B) halves of a LoRA layer, as diffusers and peft name them.
_PAIRS = (
    ("lora_A.weight", "lora_B.weight"),
    ("lora.down.weight", "lora.up.weight"),
    ("lora_linear_layer.down.weight", "lora_linear_layer.up.weight"),
)
_METADATA_KEY = "lora_adapter_metadata"


def lora_average(paths: list[Path], out_path: Path) -> Path:
    """Write the average of the LoRA adapter files ``paths`` (same base model, layers and
    rank) to ``out_path``, as one adapter of the summed rank; returns ``out_path``."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    if not paths:
        raise ValueError("an average needs at least one adapter")
    states, metadata = [], []
    for path in paths:
        with safe_open(str(path), "pt") as file:
            states.append({key: file.get_tensor(key) for key in file.keys()})  # noqa: SIM118
            metadata.append(file.metadata() or {})
    keys = set(states[0])
    if any(set(state) != keys for state in states[1:]):
        raise ValueError("the adapters adapt different layers; only runs of one setting average")
    count = len(states)
    merged: dict[str, torch.Tensor] = {}
    for key in sorted(keys):
        down = next((pair for pair in _PAIRS if key.endswith(pair[0])), None)
        up = next((pair for pair in _PAIRS if key.endswith(pair[1])), None)
        if down is not None:  # A: the members' rows one after another
            merged[key] = torch.cat([state[key] for state in states], dim=0)
        elif up is not None:  # B: the members' columns side by side, each weighted 1/K
            merged[key] = torch.cat([state[key] / count for state in states], dim=1)
        else:
            raise ValueError(f"{key} is not a LoRA layer's weight; cannot average it")
        merged[key] = merged[key].contiguous()
    scratch = out_path.with_name(f".{out_path.name}.tmp")
    save_file(merged, scratch, metadata=_scaled_metadata(metadata[0], count))
    _canonical_header(scratch)
    scratch.replace(out_path)
    return out_path


def _scaled_metadata(metadata: dict[str, str], count: int) -> dict[str, str]:
    """The members' metadata with every rank and alpha multiplied by ``count``."""
    if _METADATA_KEY not in metadata:
        return dict(metadata)
    config = json.loads(metadata[_METADATA_KEY])
    for key, value in config.items():
        if key.rsplit(".", 1)[-1] in ("r", "lora_alpha") and isinstance(value, int):
            config[key] = value * count
    return {**metadata, _METADATA_KEY: json.dumps(config, sort_keys=True)}


def lora_train_members(
    model_path: str | Path,
    images: list,
    captions: list[str],
    out_dir: str | Path,
    config: LoraTrainConfig,
    *,
    members: int = 1,
    progress: Callable[[int, int, float], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    prior: tuple[list, list[str]] | None = None,
) -> LoraTrainResult:
    """``lora_train`` run ``members`` times (seeds ``config.seed`` on) and averaged into
    ``<out_dir>/pytorch_lora_weights.safetensors``. One member is ``lora_train`` itself, in
    ``out_dir``. ``progress`` counts the steps of all members (``config.steps * members``);
    the time budget is the whole call's, and ``max_bytes`` limits the average (each member
    gets 1/``members`` of it). A stopped call returns ``completed=False``; calling
    again resumes the member it stopped in."""
    if not 1 <= members <= MAX_MEMBERS:
        raise ValueError(f"members must be from 1 to {MAX_MEMBERS}, got {members}")
    out_dir = Path(out_dir)
    if members == 1:
        return lora_train(
            model_path,
            images,
            captions,
            out_dir,
            config,
            progress=progress,
            should_stop=should_stop,
            prior=prior,
        )
    started = time.perf_counter()
    total = config.steps * members
    losses: list[float] = []
    done = 0
    weights = []
    for index in range(members):
        budget = config.time_budget_s
        if budget is not None:
            budget = max(0.0, budget - (time.perf_counter() - started))
        first = index * config.steps

        def member_progress(step: int, _total: int, loss: float, first: int = first) -> None:
            if progress is not None:
                progress(first + step, total, loss)

        # The average is as large as all the members together: each gets its share of the
        # size limit.
        limit = None if config.max_bytes is None else config.max_bytes // members
        member = replace(config, seed=config.seed + index, time_budget_s=budget, max_bytes=limit)
        try:
            result = lora_train(
                model_path,
                images,
                captions,
                out_dir / f"member-{index}",
                member,
                progress=member_progress,
                should_stop=should_stop,
                prior=prior,
            )
        except ValueError as error:
            if limit is None or "over the limit" not in str(error):
                raise
            raise ValueError(
                f"{error} (with {members} members each gets 1/{members} of the "
                f"{config.max_bytes:,} bytes: their average is {members} times one's size)"
            ) from error
        losses += result.losses
        done += result.steps_done
        weights.append(result.weights_path)
        if not result.completed:
            return replace(result, steps_done=done, losses=losses, completed=False)
    merged = lora_average(weights, out_dir / WEIGHTS_FILE)
    return LoraTrainResult.of(
        merged, started=started, steps_done=done, completed=True, losses=losses
    )
