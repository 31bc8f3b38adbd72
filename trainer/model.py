"""The student network: activations with their derivatives, and the initialisation.

Scaling convention (the one place it is stated in code; trainer.spec documents it for users):

    f(x) = (1/N) Σ_j a_j σ_j(⟨w_j, x⟩ + b_j),      loss ½ (f(x) − y)²

Learning rates are in mean-field units: the gradients of W and b are multiplied by N / r_a and the
gradient of a by N before a step, with r_a = model.second_layer_scale. A step of size lr on one
sample therefore moves neuron j by lr · (y − f) · (a_j / r_a) · σ_j'(z_j) · x, independent of N
and r_a. Gradients over a minibatch are means over its samples.

Shapes: S seeds, N neurons, d inputs. W (S, N, d) with unit rows in Phase I, a and b (S, N).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from trainer import linalg, targets
from trainer.spec import ActivationKind

# A fixed Hermite combination up to this degree is evaluated by Horner's rule on its monomial
# coefficients (a few fused multiply-adds, the fast path's hot loop); above it the monomial
# coefficients grow like k! and cancel, so the stable three-term recurrence is used instead.
HORNER_MAX_DEGREE = 8


def _monomial(coefficients: dict[int, float]) -> list[float]:
    """Monomial coefficients [c_0, c_1, …] of Σ_k c_k h_k."""
    top = max(coefficients)
    # He_k in monomials by the recurrence, as integer coefficient lists.
    he = [[1.0], [0.0, 1.0]]
    for k in range(1, top):
        nxt = [0.0] + he[k]
        for i, c in enumerate(he[k - 1]):
            nxt[i] -= k * c
        he.append(nxt)
    out = [0.0] * (top + 1)
    for k, c in coefficients.items():
        for i, m in enumerate(he[k]):
            out[i] += c * m / math.sqrt(math.factorial(k))
    return out


def _horner(
    coefficients: list[float], z: torch.Tensor, scalars: list[torch.Tensor] | None = None
) -> torch.Tensor:
    """Σ_k c_k z^k. `scalars`: the same coefficients as 0-dim tensors of z's dtype and device
    (the same rounding as Python floats, without a conversion per op)."""
    if len(coefficients) == 1:
        return torch.full_like(z, coefficients[0])
    c = scalars if scalars is not None else coefficients
    # c_n·z first (the same rounding as c_n times z), then in place: fewer temporaries
    out = z * c[-1]
    top = len(coefficients) - 2
    for k in range(top, -1, -1):
        if k != top:
            out.mul_(z)
        if coefficients[k] != 0.0:
            out.add_(c[k])
    return out


@dataclass
class Activation:
    """σ_j with σ_j' and σ_j''. A hermite `kind` has one combination `coefficients` for all
    neurons, a random_hermite one per-neuron coefficients `per_neuron`, (S, N, K+1) on h_0…h_K."""

    kind: ActivationKind
    coefficients: dict[int, float] | None = None
    per_neuron: torch.Tensor | None = None
    # Horner coefficients of σ and σ' as floats and as 0-dim tensors per (dtype, device)
    _horner_cache: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.kind = ActivationKind(self.kind)  # a caller may name it by its string

    def _horner_coefficients(self, z: torch.Tensor) -> tuple[list[float], list[float], list, list]:
        key = (z.dtype, z.device)
        if key not in self._horner_cache:
            assert self.coefficients is not None
            mono = _monomial(self.coefficients)
            dmono = [i * c for i, c in enumerate(mono)][1:] or [0.0]
            self._horner_cache[key] = (
                mono,
                dmono,
                [torch.tensor(c, dtype=z.dtype, device=z.device) for c in mono],
                [torch.tensor(c, dtype=z.dtype, device=z.device) for c in dmono],
            )
        return self._horner_cache[key]

    def value_and_derivative(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """σ(z), σ'(z) for pre-activations z of shape (S, N, …)."""
        if self.kind is ActivationKind.relu:
            return torch.relu(z), (z > 0).to(z.dtype)
        if self.kind is ActivationKind.tanh:
            t = torch.tanh(z)
            return t, 1.0 - t * t
        if self.kind is ActivationKind.hermite:
            assert self.coefficients is not None
            if max(self.coefficients) <= HORNER_MAX_DEGREE:
                mono, dmono, mono_t, dmono_t = self._horner_coefficients(z)
                return _horner(mono, z, mono_t), _horner(dmono, z, dmono_t)
            return (
                targets.hermite_series(self.coefficients, z),
                targets.hermite_series(targets.hermite_derivative(self.coefficients), z),
            )
        return self._random(z, 0), self._random(z, 1)

    def second_derivative(self, z: torch.Tensor) -> torch.Tensor:
        """σ''(z) (ReLU: 0 almost everywhere, which is why batch reuse cannot use it)."""
        if self.kind is ActivationKind.relu:
            return torch.zeros_like(z)
        if self.kind is ActivationKind.tanh:
            t = torch.tanh(z)
            return -2.0 * t * (1.0 - t * t)
        if self.kind is ActivationKind.hermite:
            assert self.coefficients is not None
            return targets.hermite_series(targets.hermite_derivative(self.coefficients, 2), z)
        return self._random(z, 2)

    def _random(self, z: torch.Tensor, order: int) -> torch.Tensor:
        assert self.per_neuron is not None
        c = self.per_neuron  # (S, N, K+1)
        K = c.shape[-1] - 1
        hs = targets.h_all(z, K)
        extra = z.dim() - 2  # trailing sample dimensions of z beyond (S, N)
        out = torch.zeros_like(z)
        for k in range(order, K + 1):
            # h_k^(order) = √(k (k−1) … (k−order+1)) h_{k−order}
            factor = math.sqrt(math.perm(k, order))
            ck = c[..., k].reshape(c.shape[:2] + (1,) * extra)
            out = out + (factor * ck) * hs[k - order]
        return out

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        return self.value_and_derivative(z)[0]


def make_activation(
    spec_activation: object,
    gens: Sequence[torch.Generator],
    N: int,
    *,
    dtype: torch.dtype,
    device: torch.device,
) -> Activation:
    """The activation of a spec (`'relu'`, `'tanh'`, HermiteActivation, RandomHermiteActivation).

    Random per-neuron coefficients c_jk ~ N(0, 1) on h_min…h_max, scaled to Σ_k c_jk² = 1, are
    drawn from the seeds' generators (so this call advances them).
    """
    if spec_activation in (ActivationKind.relu, ActivationKind.tanh):
        return Activation(ActivationKind(str(spec_activation)))
    hermite = getattr(spec_activation, "hermite", None)
    if hermite is not None:
        return Activation(
            ActivationKind.hermite, coefficients={int(k): float(c) for k, c in hermite.items()}
        )
    degrees = spec_activation.random_hermite  # type: ignore[attr-defined]
    lo, hi = degrees.min_degree, degrees.max_degree
    c = targets.randn(gens, (N, hi - lo + 1), dtype=dtype, device=device)  # (S, N, hi−lo+1)
    c = c / torch.linalg.vector_norm(c, dim=-1, keepdim=True)
    full = torch.zeros(len(gens), N, hi + 1, dtype=dtype, device=device)
    full[..., lo:] = c
    return Activation(ActivationKind.random_hermite, per_neuron=full)


def init_params(
    gens: Sequence[torch.Generator],
    N: int,
    d: int,
    *,
    second_layer_scale: float,
    bias_init: str,
    bias_scale: float,
    dtype: torch.dtype,
    device: torch.device,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """W (S, N, d) uniform on the sphere, a = ±r_a with random signs, b per `bias_init`."""
    W = targets.unit_rows(targets.randn(gens, (N, d), dtype=dtype, device=device))
    negative = (targets.rand(gens, (N,), dtype=dtype, device=device) < 0.5).to(dtype)
    a = second_layer_scale * (1.0 - 2.0 * negative)  # (S, N)
    if bias_init == "zero":
        b = torch.zeros_like(a)
    elif bias_init == "normal":
        b = bias_scale * targets.randn(gens, (N,), dtype=dtype, device=device)
    else:
        b = bias_scale * (2 * targets.rand(gens, (N,), dtype=dtype, device=device) - 1)
    return W, a, b


def forward(
    W: torch.Tensor, a: torch.Tensor, b: torch.Tensor, act: Activation, x: torch.Tensor
) -> torch.Tensor:
    """f(x) for x (S, M, d): returns (S, M)."""
    z = linalg.bmm(W, x.transpose(1, 2)) + b[..., None]  # (S, N, M)
    return (act(z) * a[..., None]).mean(1)
