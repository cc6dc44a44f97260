"""Entry point `datamodels`: retrain the held-out LDS coalitions from scratch.

Plans `lds.num_sets` independent sets of `lds.coalitions_per_set` coalitions
of size round(α·n) for each α in `lds.alphas`, and evaluates each with
`retrain`. Output: coalition runs tagged `credit.datamodel_alpha` and
`credit.datamodel_set`, reused on a rerun.
"""

from diffusion_credit.cli import load_study, parse_number, run_main, study_parser
from diffusion_credit.datamodels import run_datamodels
from diffusion_credit.stages import log_dataset
from diffusion_credit.study import Study


def main() -> None:
    parser = study_parser(__doc__.splitlines()[0])
    parser.add_argument("--alphas", default="", help="Overrides lds.alphas, comma-separated, e.g. 0.25,0.5.")
    parser.add_argument("--num-sets", default="", help="Overrides lds.num_sets.")
    parser.add_argument("--coalitions-per-set", default="", help="Overrides lds.coalitions_per_set.")
    parser.add_argument("--seed", default="", help="Overrides lds.seed.")
    args = parser.parse_args()
    alphas = [parse_number(alpha, "--alphas") for alpha in args.alphas.split(",")] if args.alphas.strip() else ""
    config = load_study(
        args.config,
        data=args.data,
        overrides={
            "lds.alphas": alphas,
            "lds.num_sets": args.num_sets,
            "lds.coalitions_per_set": args.coalitions_per_set,
            "lds.seed": args.seed,
        },
    )
    study = Study(config)
    study.tracking()
    log_dataset(study, nested=False)
    run_datamodels(study)


if __name__ == "__main__":
    run_main(main)
