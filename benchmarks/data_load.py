"""Measure loading the 50,000 CIFAR-10 training JPEGs as a contributor dataset.

Extracts `train.tar` (10 contributors of 5,000 JPEGs each) into a work folder
outside the timing, and reuses that extraction on later runs. Each measured
load runs in a fresh Python process, so its peak resident memory
(`ru_maxrss`) is its own:

- first load: hash, decode with `--workers` threads and write the cache;
- cached load: hash and read the cache (no decoding), run twice.

Writes `benchmarks/results/data_load.json`.

Run: nice python benchmarks/data_load.py [--tar ../shared/data/cifar10/train.tar] [--workers 1 2]
     [--workdir .cache/diffusion-credit/benchmarks/cifar10-train]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_TAR = REPO.parent / "shared" / "data" / "cifar10" / "train.tar"
RESULTS = REPO / "benchmarks" / "results" / "data_load.json"
DEFAULT_WORKDIR = REPO / ".cache" / "diffusion-credit" / "benchmarks" / "cifar10-train"


def measure_load(data_path: str, cache_dir: str, resolution: int, workers: int) -> dict[str, float]:
    """Load the dataset once in this process; return seconds, peak RSS and the dataset's size."""
    import torch

    from diffusion_credit.config import DataConfig
    from diffusion_credit.data import load_dataset

    config = DataConfig(path=data_path, resolution=resolution, cache_dir=cache_dir, num_workers=workers)
    start = time.perf_counter()
    dataset = load_dataset(config, progress=False)
    seconds = time.perf_counter() - start
    return {
        "seconds": round(seconds, 2),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "num_images": len(dataset),
        "num_contributors": dataset.num_contributors,
        "images_mib": round(dataset.images.numel() * dataset.images.element_size() / 2**20, 1),
        "digest": dataset.digest,
        "torch_threads": torch.get_num_threads(),
    }


def run_child(data_path: Path, cache_dir: Path, resolution: int, workers: int) -> dict[str, float]:
    """Run `measure_load` in a fresh interpreter and return its JSON result."""
    command = [
        sys.executable,
        __file__,
        "--child",
        str(data_path),
        str(cache_dir),
        str(resolution),
        str(workers),
    ]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def baseline_rss_mib() -> float:
    """Measure the peak RSS (MiB) of a fresh interpreter that only imports `diffusion_credit.data` (and torch)."""
    code = (
        "import resource, diffusion_credit.data; "
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"
    )
    output = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return round(float(output.strip()), 1)


def extract(tar_path: Path, workdir: Path) -> tuple[Path, float | None]:
    """Extract the tar into `workdir` unless a complete extraction is there.

    Returns:
        The `train` folder and the extraction seconds (None when reused).
    """
    train = workdir / "train"
    done = workdir / "extracted.ok"
    if done.is_file() and train.is_dir():
        return train, None
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    start = time.perf_counter()
    with tarfile.open(tar_path) as archive:
        archive.extractall(workdir, filter="data")
    done.write_text(str(tar_path))
    return train, time.perf_counter() - start


def machine() -> dict[str, object]:
    """Describe the machine and software the numbers were measured on."""
    import PIL
    import torch

    return {
        "cpu_count": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "pillow": PIL.__version__,
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tar", type=Path, default=DEFAULT_TAR, help="the CIFAR-10 train.tar of JPEG files")
    parser.add_argument("--resolution", type=int, default=32, help="output height and width in pixels")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="decoding thread counts to measure")
    parser.add_argument("--output", type=Path, default=RESULTS, help="the JSON file to write")
    parser.add_argument(
        "--workdir", type=Path, default=DEFAULT_WORKDIR, help="folder for the extracted JPEGs and the caches"
    )
    args = parser.parse_args()
    if not args.tar.is_file():
        parser.error(f"--tar {args.tar} not found; pass the path of CIFAR-10's train.tar of JPEG files.")

    machine_at_start = machine()
    data_path, extract_seconds = extract(args.tar, args.workdir)
    logging.info("JPEGs in %s (extraction seconds: %s).", data_path, extract_seconds)

    first_loads = {}
    for workers in args.workers:
        cache_dir = args.workdir / f"cache-{workers}"
        shutil.rmtree(cache_dir, ignore_errors=True)
        first_loads[str(workers)] = run_child(data_path, cache_dir, args.resolution, workers)
        logging.info("First load, %d worker(s): %s", workers, first_loads[str(workers)])
    cached_loads = [run_child(data_path, cache_dir, args.resolution, args.workers[-1]) for _ in range(2)]
    logging.info("Cached loads: %s", cached_loads)
    cache_files = list((cache_dir / "datasets").glob("*.safetensors"))
    cache_mib = round(sum(path.stat().st_size for path in cache_files) / 2**20, 1)

    result = {
        "benchmark": "data_load",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": machine_at_start,
        "tar": str(args.tar),
        "resolution": args.resolution,
        "extract_seconds": None if extract_seconds is None else round(extract_seconds, 2),
        "baseline_rss_mib": baseline_rss_mib(),
        "first_load_by_workers": first_loads,
        "cached_loads": cached_loads,
        "cache_file_mib": cache_mib,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--child":
        print(json.dumps(measure_load(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))))
    else:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
        main()
