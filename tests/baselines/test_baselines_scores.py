"""TRAK kernel scores: the closed form, linear regression against exact leave-one-out, singular systems."""

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from diffusion_credit.baselines import RandomProjector, RidgeKernel, SingularKernelError
from diffusion_credit.baselines.gradients import per_sample_gradients
from diffusion_credit.baselines.scores import cosine_scores


def _explicit_scores(generated, train, ridge_lambda):
    kernel = train.T @ train + ridge_lambda * np.eye(train.shape[1])
    return generated @ np.linalg.solve(kernel, train.T)


@pytest.mark.parametrize("num_train, dim", [(30, 8), (8, 30)])
def test_kernel_scores_match_explicit_inverse(num_train, dim):
    rng = np.random.default_rng(0)
    train = rng.normal(size=(num_train, dim))
    generated = rng.normal(size=(4, dim))
    kernel = RidgeKernel(train)

    for ridge_lambda in (0.1, 2.0):
        expected = _explicit_scores(generated, train, ridge_lambda)
        np.testing.assert_allclose(kernel.scores(generated, ridge_lambda), expected, rtol=1e-8, atol=1e-10)

        inverse = np.linalg.solve(train.T @ train + ridge_lambda * np.eye(dim), train.T)
        np.testing.assert_allclose(kernel.inverse_norms(ridge_lambda), np.linalg.norm(inverse, axis=0), rtol=1e-8)


def test_kernel_exact_inverse_at_zero_lambda():
    rng = np.random.default_rng(1)
    train = rng.normal(size=(20, 5))
    generated = rng.normal(size=(2, 5))
    np.testing.assert_allclose(RidgeKernel(train).scores(generated, 0.0), _explicit_scores(generated, train, 0.0), rtol=1e-8)


def test_singular_kernel_error_names_k_n_lambda():
    kernel = RidgeKernel(np.random.default_rng(0).normal(size=(5, 12)))
    with pytest.raises(SingularKernelError) as error:
        kernel.scores(np.zeros((1, 12)), 0.0)
    message = str(error.value)
    assert "k=12" in message
    assert "N=5" in message
    assert "λ=0" in message
    assert "ridge_lambda > 0" in message
    assert "projection_dim" in message


def test_rank_deficient_kernel_rejected_at_zero_lambda():
    column = np.random.default_rng(0).normal(size=(10, 1))
    with pytest.raises(SingularKernelError, match="numerically singular"):
        RidgeKernel(np.hstack([column, 2 * column])).inverse_norms(0.0)


def test_kernel_rejects_bad_features():
    with pytest.raises(ValueError, match="NaN"):
        RidgeKernel(np.array([[np.nan, 1.0]]))
    with pytest.raises(ValueError, match=r"\[M, 3\]"):
        RidgeKernel(np.ones((4, 3))).scores(np.ones((1, 2)), 1.0)
    with pytest.raises(ValueError, match=">= 0"):
        RidgeKernel(np.ones((4, 3))).scores(np.ones((1, 3)), -1.0)


def test_cosine_scores_of_parallel_and_opposite_features():
    scores = cosine_scores(torch.tensor([[1.0, 0.0]]), torch.tensor([[3.0, 0.0], [-2.0, 0.0], [0.0, 5.0]]))
    np.testing.assert_allclose(scores, [[1.0, -1.0, 0.0]], atol=1e-12)


def test_trak_ranks_linear_regression_like_exact_loo():
    """TRAK on least squares: output gradients, projected, weighted by the MSE residuals.

    Removing training point j moves the test prediction by
    x̃ᵀ(XᵀX)⁻¹ x_j r_j / (1 − h_j) exactly; TRAK drops the leverage term.
    """
    rng = np.random.default_rng(0)
    num_train, num_features = 60, 4
    inputs = torch.tensor(rng.normal(size=(num_train, num_features)), dtype=torch.float32)
    targets = inputs @ torch.tensor([1.0, -2.0, 0.5, 3.0]) + 0.7 + 0.5 * torch.tensor(rng.normal(size=num_train), dtype=torch.float32)
    tests = torch.tensor(rng.normal(size=(3, num_features)), dtype=torch.float32)

    # Fit the nn.Linear by least squares, in closed form.
    design = np.c_[inputs.double().numpy(), np.ones(num_train)]
    solution = np.linalg.lstsq(design, targets.double().numpy(), rcond=None)[0]
    model = torch.nn.Linear(num_features, 1)
    with torch.no_grad():
        model.weight.copy_(torch.tensor(solution[:-1])[None])
        model.bias.copy_(torch.tensor(solution[-1:]))
    residuals = (targets - model(inputs).squeeze(1)).detach().double().numpy()

    # Exact leave-one-out change of the test predictions, averaged over test points.
    design_tests = np.c_[tests.double().numpy(), np.ones(len(tests))]
    exact = np.empty(num_train)
    for j in range(num_train):
        keep = np.arange(num_train) != j
        refit = np.linalg.lstsq(design[keep], targets.double().numpy()[keep], rcond=None)[0]
        exact[j] = (design_tests @ (solution - refit)).mean()

    # TRAK with per-sample output gradients from torch.func and a seeded projection.
    def output(call, x):
        return call(x[None]).squeeze()

    projector = RandomProjector(num_features + 1, 64, seed=0, chunk_size=3, kind="gaussian")
    train_features = projector.project(per_sample_gradients(model, output, [inputs]))
    test_features = projector.project(per_sample_gradients(model, output, [tests]))
    scores = RidgeKernel(train_features).scores(test_features, 1e-6).mean(axis=0) * residuals

    assert spearmanr(scores, exact)[0] >= 0.99
    assert np.argmax(scores) == np.argmax(exact)
