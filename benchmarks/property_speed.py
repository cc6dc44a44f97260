"""Measure the speed of each global property on this machine.

The default config uses the study backend, 16x16 example images and 256
images per property call. For it the script times the contributor
classifier's training and cached load, the Inception Score, the cluster
entropy (reference fit and call) and the Fréchet distance to the training
images. With `--architectures` it also
times the pretrained backends at their real sizes with random weights, which
run exactly as fast as the published ones: FID Inception-v3 at 299 px, CLIP
ViT-B/32 at 224 px and the BLIP-base vision encoder at 384 px.
Writes `benchmarks/results/property_speed.json`.

Run: python benchmarks/property_speed.py [--threads 1] [--architectures]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

from diffusion_credit.config import DataConfig, PropertyConfig
from diffusion_credit.data import load_dataset
from diffusion_credit.properties import build_property, load_aesthetic_head, training_fid
from diffusion_credit.properties.aesthetic import AestheticScore
from diffusion_credit.properties.backends import InceptionBackend
from diffusion_credit.properties.cluster_entropy import ClusterEntropy
from diffusion_credit.properties.inception import FIDInceptionV3
from diffusion_credit.properties.inception_score import InceptionScore
from diffusion_credit.properties.pretrained import BlipBackend, ClipBackend

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results" / "property_speed.json"
AESTHETIC = (REPO / ".." / "shared" / "weights" / "laion-aesthetic").resolve()


def best_time(function, repeats: int) -> tuple[float, object]:
    """Return the best wall time in seconds of `repeats` calls after one untimed warm-up, and the last output."""
    output = function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        output = function()
        times.append(time.perf_counter() - start)
    return min(times), output


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    return ((images + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)


def study_rows(dataset, images: torch.Tensor, cache_dir: Path, repeats: int) -> list[dict]:
    """Time the study-backend properties at the default config."""
    rows = []
    config = PropertyConfig()

    start = time.perf_counter()
    inception = build_property(config, dataset=dataset, cache_dir=str(cache_dir), progress=False)
    train_s = time.perf_counter() - start
    start = time.perf_counter()
    build_property(config, dataset=dataset, cache_dir=str(cache_dir), progress=False)
    load_s = time.perf_counter() - start
    accuracy = inception.backend.classifier.holdout_accuracy
    rows.append({"what": "classifier train (600 steps, 900 images)", "seconds": train_s, "holdout_accuracy": accuracy})
    rows.append({"what": "classifier cached load", "seconds": load_s})

    seconds, result = best_time(lambda: inception(images), repeats)
    noise = torch.randint(0, 256, images.shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    rows.append(_rate_row("inception_score (study)", seconds, len(images), value=result.value,
                          value_on_noise=inception(noise).value))

    entropy_config = PropertyConfig(name="cluster_entropy")
    clusters = build_property(entropy_config, dataset=dataset, cache_dir=str(cache_dir), progress=False)
    start = time.perf_counter()
    clusters.fit_reference(images)
    rows.append({"what": "cluster_entropy reference fit (20 Ward clusters)", "seconds": time.perf_counter() - start})
    seconds, result = best_time(lambda: clusters(images), repeats)
    rows.append(_rate_row("cluster_entropy (study)", seconds, len(images), value=result.value))

    seconds, value = best_time(lambda: training_fid(inception.backend, images, dataset), repeats)
    rows.append(_rate_row("training FID (study features, vs 1000 training images)", seconds, len(images), value=value))
    return rows


def architecture_rows(count: int, cache_dir: Path) -> list[dict]:
    """Time the pretrained backends at their real architecture sizes with random weights."""
    from transformers import BlipVisionConfig, BlipVisionModel, CLIPVisionConfig, CLIPVisionModelWithProjection

    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (count, 3, 16, 16), dtype=torch.uint8, generator=generator)
    rows = []

    inception = InceptionScore(InceptionBackend(FIDInceptionV3(), weights="random", batch_size=count), splits=1)
    seconds, _ = best_time(lambda: inception(images), 1)
    rows.append(_rate_row("inception_score (FID Inception-v3, 299 px, random weights)", seconds, count))

    clip_config = CLIPVisionConfig(hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                                   num_attention_heads=12, image_size=224, patch_size=32, projection_dim=512)
    clip = ClipBackend(CLIPVisionModelWithProjection(clip_config), weights="random", batch_size=count)
    head_path = AESTHETIC / "sa_0_4_vit_b_32_linear.pth"
    head = load_aesthetic_head(head_path) if head_path.is_file() else torch.nn.Linear(512, 1)
    aesthetic = AestheticScore(clip, head, head_source=str(head_path))
    seconds, _ = best_time(lambda: aesthetic(images), 1)
    rows.append(_rate_row("aesthetic_score (CLIP ViT-B/32, 224 px, random weights)", seconds, count))

    blip_config = BlipVisionConfig(hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                                   num_attention_heads=12, image_size=384, patch_size=16)
    blip = ClusterEntropy(BlipBackend(BlipVisionModel(blip_config), weights="random", batch_size=count),
                          num_clusters=2, cache_dir=cache_dir)
    blip.fit_reference(images)
    seconds, _ = best_time(lambda: blip(images), 1)
    rows.append(_rate_row("cluster_entropy (BLIP-base vision, 384 px, random weights)", seconds, count))
    return rows


def _rate_row(what: str, seconds: float, count: int, **extra) -> dict:
    return {"what": what, "images": count, "seconds": seconds, "images_per_s": count / seconds, **extra}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    parser.add_argument("--images", type=int, default=256, help="generated images per property call (default 256)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats; the best is reported (default 3)")
    parser.add_argument("--architectures", action="store_true", help="also time Inception, CLIP and BLIP backends")
    parser.add_argument("--architecture-images", type=int, default=16, help="images per pretrained-size call")
    args = parser.parse_args()

    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    dataset = load_dataset(DataConfig(path=str(REPO / "examples" / "cifar10-mini")), progress=False)
    images = to_uint8(dataset.images[torch.linspace(0, len(dataset.images) - 1, args.images).long()])

    with tempfile.TemporaryDirectory() as cache:
        rows = study_rows(dataset, images, Path(cache), args.repeats)
        if args.architectures:
            rows += architecture_rows(args.architecture_images, Path(cache))

    report = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": {
            "cpu_cores": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "torch": torch.__version__,
            "python": platform.python_version(),
            "threads": args.threads,
        },
        "rows": rows,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2))
    for row in rows:
        rate = f"{row['images_per_s']:9.1f} img/s" if "images_per_s" in row else " " * 15
        extras = {key: round(value, 4) for key, value in row.items()
                  if key not in ("what", "seconds", "images", "images_per_s") and value is not None}
        print(f"{row['what']:<62} {row['seconds']:8.3f} s {rate} {extras}")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
