"""Measure per-sample gradient + random projection throughput of the TRAK-family features on CPU.

Setting: 16x16 RGB images, a diffusers UNet2DModel with block_out_channels
(32, 64, 64), layers_per_block 1 and attention at the middle level (the
default ModelConfig, about 1.1M parameters), projection dimension 1024 and
4 timesteps. Each configuration runs in a fresh process, so its peak memory
is the growth of ru_maxrss over the process's level after building the model.

Run: python benchmarks/trak_throughput.py [--examples 64] [--threads 2]
Writes benchmarks/results/trak_throughput.json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import resource
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "trak_throughput.json"

CONFIGURATIONS = [
    {"name": "default", "projection_batch_size": 64, "batch_size": 16, "timestep_batch_size": 4},
    {"name": "small projection blocks", "projection_batch_size": 16, "batch_size": 16, "timestep_batch_size": 4},
    {"name": "one timestep per call", "projection_batch_size": 64, "batch_size": 16, "timestep_batch_size": 1},
]


def build_unet():
    import torch
    from diffusers import DDPMScheduler, UNet2DModel

    torch.manual_seed(0)
    unet = UNet2DModel(
        sample_size=16,
        in_channels=3,
        out_channels=3,
        block_out_channels=(32, 64, 64),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "AttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "AttnUpBlock2D", "UpBlock2D"),
        norm_num_groups=8,
        attention_head_dim=8,
    ).eval()
    return unet, DDPMScheduler(num_train_timesteps=1000)


def measure(settings: dict, num_examples: int, threads: int) -> dict:
    """Time gradient features of `num_examples` images with `settings`, in the current process."""
    import torch

    from diffusion_credit.baselines import BaselinesConfig, RandomProjector, gradient_features
    from diffusion_credit.baselines.gradients import parameter_count

    torch.set_num_threads(threads)
    unet, scheduler = build_unet()
    images = torch.rand(num_examples, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1
    config = BaselinesConfig(
        timesteps=4,
        projection_dim=1024,
        batch_size=settings["batch_size"],
        projection_batch_size=settings["projection_batch_size"],
        timestep_batch_size=settings["timestep_batch_size"],
    )
    baseline_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    start = time.perf_counter()
    features = gradient_features((unet, scheduler), images, objective="diffusion", config=config)
    total_s = time.perf_counter() - start

    # The projection alone, on gradients of the same size, to split the cost.
    num_params = parameter_count(unet)
    projector = RandomProjector(num_params, config.projection_dim, chunk_size=config.chunk_size)
    gradients = torch.randn(config.projection_batch_size, num_params)
    start = time.perf_counter()
    projector.project(gradients)
    projection_block_s = time.perf_counter() - start

    num_blocks = -(-num_examples // config.projection_batch_size)
    return {
        **settings,
        "num_examples": num_examples,
        "num_params": num_params,
        "projection_dim": config.projection_dim,
        "timesteps": 4,
        "feature_shape": list(features.shape),
        "total_s": round(total_s, 2),
        "examples_per_s": round(num_examples / total_s, 3),
        "projection_s_per_block": round(projection_block_s, 2),
        "projection_share": round(min(1.0, num_blocks * projection_block_s / total_s), 3),
        "peak_rss_growth_mib": round((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - baseline_kib) / 1024, 1),
    }


def _child(settings: dict, num_examples: int, threads: int, queue: multiprocessing.Queue) -> None:
    queue.put(measure(settings, num_examples, threads))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=64, help="training images whose features are computed")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    args = parser.parse_args()

    import torch

    load_before = os.getloadavg()
    context = multiprocessing.get_context("spawn")
    rows = []
    for settings in CONFIGURATIONS:
        queue = context.Queue()
        process = context.Process(target=_child, args=(settings, args.examples, args.threads, queue))
        process.start()
        row = queue.get()
        process.join()
        rows.append(row)
        print(json.dumps(row))

    report = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": {
            "cpu_cores": multiprocessing.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "torch": torch.__version__,
            "threads": args.threads,
            # The cores are shared with other jobs: 1-minute load averages before and after.
            "load_average_before": round(load_before[0], 2),
            "load_average_after": round(os.getloadavg()[0], 2),
        },
        "results": rows,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
