"""Entry point `prune`: prune `θ*` and fine-tune it on all data into `θ̃*` (or reuse it).

Output: a `prune` run with parameter and MAC counts before and after, the
model artifact, loss curve and sample grid.
"""

from diffusion_credit import stages
from diffusion_credit.cli import load_study, run_main, study_parser
from diffusion_credit.study import Study


def main() -> None:
    parser = study_parser(__doc__.splitlines()[0])
    parser.add_argument("--ratio", default="", help="Overrides pruning.ratio (fraction of channels removed).")
    args = parser.parse_args()
    study = Study(load_study(args.config, data=args.data, overrides={"pruning.ratio": args.ratio}))
    study.tracking()
    stages.pruned_model(study, nested=False)


if __name__ == "__main__":
    run_main(main)
