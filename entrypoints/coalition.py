"""Entry point `coalition`: evaluate `v(S)` for one coalition and one method (or reuse it).

Output: a `coalition` run with `property.<name>`, phase timings and a sample grid.
"""

from diffusion_credit.cli import load_study, optional, parse_int, run_main, study_parser
from diffusion_credit.coalitions import check_fine_tunable, check_method, evaluate_coalition
from diffusion_credit.data import parse_coalition
from diffusion_credit.stages import log_dataset
from diffusion_credit.study import Study


def main() -> None:
    parser = study_parser(__doc__.splitlines()[0])
    parser.add_argument("--coalition", required=True, help="Bitstring over the study's contributor order.")
    parser.add_argument("--method", default="sft", help="sft, ft or retrain.")
    parser.add_argument("--seed", default="", help="Overrides the training or fine-tuning seed.")
    args = parser.parse_args()
    check_method(args.method)
    check_fine_tunable(args.coalition, args.method)
    seed = optional(args.seed)
    seed = None if seed is None else parse_int(seed, "--seed")
    study = Study(load_study(args.config, data=args.data))
    parse_coalition(args.coalition, len(study.contributors))
    study.tracking()
    # The dataset run records the contributor order, which `shapley` reads to name the credit.
    log_dataset(study, nested=False)
    value = evaluate_coalition(study, args.coalition, args.method, seed=seed, nested=False)
    print(f"v({value.coalition}) = {value.value:.6f} ({'reused run' if value.reused else 'run'} {value.run_id})")


if __name__ == "__main__":
    run_main(main)
