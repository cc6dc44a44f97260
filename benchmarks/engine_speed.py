"""Measure the speed of the diffusion engine on this machine and the per-coalition cost ratio.

For each model variant it measures the training steps/s of the full model,
of the model pruned at `--ratio` and of coalition fine-tuning, and the DDIM
sampling images/s of the full and the pruned model. From these it derives
the cost ratio of one coalition value by retraining versus by sparsified
fine-tuning, and the estimated wall time of a whole default study.
Writes `benchmarks/results/engine_speed.json`.

Run: python benchmarks/engine_speed.py [--variants default small] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from diffusion_credit.config import FinetuneConfig, ModelConfig, TrainingConfig
from diffusion_credit.models import create_model
from diffusion_credit.pruning import prune_model
from diffusion_credit.sampling import generate
from diffusion_credit.training import finetune, train

VARIANTS = {
    "default": ModelConfig(block_out_channels=[32, 64, 64], attention_levels=[False, True, False]),
    "small": ModelConfig(block_out_channels=[16, 32, 32], attention_levels=[False, True, False], norm_num_groups=4),
    "tiny": ModelConfig(block_out_channels=[16, 32], attention_levels=[False, True], norm_num_groups=4),
}
EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "cifar10-mini"


def load_images(resolution: int, per_class: int) -> torch.Tensor:
    """Load `per_class` example images of every class, float32 [N, 3, R, R] in [-1, 1]."""
    arrays = []
    for folder in sorted(path for path in EXAMPLES.iterdir() if path.is_dir()):
        for path in sorted(folder.glob("*.jpg"))[:per_class]:
            image = Image.open(path).convert("RGB").resize((resolution, resolution), Image.BICUBIC)
            arrays.append(np.asarray(image))
    pixels = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float()
    return pixels / 127.5 - 1


def timed(function) -> float:
    """Run `function()` and return the CPU seconds of this process it took.

    With one torch thread, CPU time is what the call would take on an idle
    core, and unlike wall time it does not grow when other jobs share the cores.
    """
    started = time.process_time()
    function()
    return time.process_time() - started


def steps_per_second(model, images, steps: int, batch_size: int, tune: bool, repeats: int) -> float:
    """Best rate of `repeats` timings of `steps` optimizer steps, after one untimed warm-up step."""

    def run(count: int, seed: int) -> None:
        if tune:
            finetune(model, images, FinetuneConfig(steps=count, batch_size=batch_size, seed=seed), progress=False)
        else:
            train(model, images, TrainingConfig(steps=count, batch_size=batch_size, seed=seed), progress=False)

    run(1, 0)
    return max(steps / timed(lambda: run(steps, seed)) for seed in range(1, repeats + 1))


def images_per_second(model, num_images: int, inference_steps: int, batch_size: int, repeats: int) -> float:
    """Best rate of `repeats` timed sampling runs of `num_images` images."""

    def run() -> None:
        generate(model, num_images, num_inference_steps=inference_steps, batch_size=batch_size, seed=0, progress=False)

    return max(num_images / timed(run) for _ in range(repeats))


def measure_variant(name: str, config: ModelConfig, images: torch.Tensor, coalition: torch.Tensor, args) -> dict:
    model = create_model(config, tuple(images.shape[1:]), seed=0)
    result = {"variant": name, "model": {"block_out_channels": config.block_out_channels,
              "attention_levels": config.attention_levels, "norm_num_groups": config.norm_num_groups}}
    result["params_full"] = model.num_parameters()
    result["train_steps_per_s_full"] = steps_per_second(model, images, args.measure_steps, args.batch_size, False, args.repeats)
    result["sample_images_per_s_full"] = images_per_second(model, args.sample_batch, args.inference_steps, args.sample_batch, args.repeats)

    report = prune_model(model, args.ratio)
    result["params_pruned"] = report.params_after
    result["macs_full"], result["macs_pruned"] = report.macs_before, report.macs_after
    result["channels_removed"] = 1 - report.channels_after / report.channels_before
    result["train_steps_per_s_pruned"] = steps_per_second(model, images, args.measure_steps, args.batch_size, False, args.repeats)
    result["finetune_steps_per_s_coalition"] = steps_per_second(model, coalition, args.measure_steps, args.batch_size, True, args.repeats)
    result["sample_images_per_s_pruned"] = images_per_second(model, args.sample_batch, args.inference_steps, args.sample_batch, args.repeats)
    result.update(estimate_costs(result, args))
    return result


def estimate_costs(r: dict, args) -> dict:
    """Seconds per coalition value and for a whole study, from the measured rates."""
    sample_full = args.num_images / r["sample_images_per_s_full"]
    sample_pruned = args.num_images / r["sample_images_per_s_pruned"]
    retrain = args.train_steps / r["train_steps_per_s_full"] + sample_full
    sparse = args.finetune_steps / r["finetune_steps_per_s_coalition"] + sample_pruned
    study = (
        args.train_steps / r["train_steps_per_s_full"]
        + 2 * sample_full
        + args.prune_finetune_steps / r["train_steps_per_s_pruned"]
        + args.coalitions * sparse
    )
    return {
        "seconds_retrain_coalition": retrain,
        "seconds_sft_coalition": sparse,
        "cost_ratio_retrain_over_sft": retrain / sparse,
        "seconds_study_estimate": study,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=["default", "small"], choices=sorted(VARIANTS))
    parser.add_argument("--measure-steps", type=int, default=20, help="timed optimizer steps per measurement")
    parser.add_argument("--batch-size", type=int, default=32, help="training batch size")
    parser.add_argument("--sample-batch", type=int, default=64, help="images per timed sampling batch")
    parser.add_argument("--inference-steps", type=int, default=25, help="DDIM steps")
    parser.add_argument("--ratio", type=float, default=0.3, help="pruning ratio (fraction of channels removed)")
    parser.add_argument("--train-steps", type=int, default=1500, help="training.steps of the study (retrain cost)")
    parser.add_argument("--finetune-steps", type=int, default=100, help="finetune.steps per coalition")
    parser.add_argument("--prune-finetune-steps", type=int, default=300, help="pruning.finetune.steps")
    parser.add_argument("--coalitions", type=int, default=24, help="coalitions of the study")
    parser.add_argument("--num-images", type=int, default=256, help="sampling.num_images per coalition")
    parser.add_argument("--repeats", type=int, default=2, help="timings per measurement; the best is kept")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--output", default=str(Path(__file__).parent / "results" / "engine_speed.json"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)

    images = load_images(16, per_class=100)
    coalition = images[:500]
    machine = {
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "processor": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "note": "rates are per CPU second of this process with one torch thread (best of --repeats); other jobs shared the 2 cores",
    }
    results = []
    for name in args.variants:
        result = measure_variant(name, VARIANTS[name], images, coalition, args)
        print(json.dumps(result, indent=1), flush=True)
        results.append(result)

    output = {"command": " ".join([Path(sys.executable).name, *sys.argv]), "machine": machine,
              "settings": vars(args), "results": results}
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(output, indent=2))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
