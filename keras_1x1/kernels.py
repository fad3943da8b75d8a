"""Pointwise kernels in their two layouts (DESIGN section 2, items 1 and 3).

A grouped 1x1 convolution with ``g`` groups holds ``(Cin/g, Cout)``
(Keras' layout; output block ``k`` reads input block ``k``); the same map
as a Dense is the ``(Cin, Cout)`` block-diagonal kernel. The way back
exists only when the off-diagonal blocks are exactly zero. ONNX stores a
conv weight as ``(Cout, Cin/g, 1, ..)``; `onnx_weight` and `from_onnx_weight`
move between that and the Keras layout.

>>> import numpy as np
>>> grouped = np.arange(8.0).reshape(2, 4)          # Cin/g = 2, Cout = 4, g = 2
>>> dense = block_diagonal(grouped, 2)
>>> dense.shape, detect_groups(dense)
((4, 4), 2)
>>> bool(np.array_equal(grouped_kernel(dense, 2), grouped))
True
"""

import numpy as np


def block_diagonal(kernel, groups):
    """``(Cin/g, Cout)`` grouped kernel -> ``(Cin, Cout)`` block-diagonal kernel."""
    per_in, cout = kernel.shape
    if groups == 1:
        return kernel
    per_out = cout // groups
    full = np.zeros((per_in * groups, cout), dtype=kernel.dtype)
    for g in range(groups):
        cols = slice(g * per_out, (g + 1) * per_out)
        full[g * per_in : (g + 1) * per_in, cols] = kernel[:, cols]
    return full


def grouped_kernel(kernel, groups):
    """``(Cin, Cout)`` block-diagonal -> ``(Cin/g, Cout)``, the diagonal blocks."""
    if groups == 1:
        return kernel
    cin, cout = kernel.shape
    per_in, per_out = cin // groups, cout // groups
    return np.concatenate(
        [
            kernel[g * per_in : (g + 1) * per_in, g * per_out : (g + 1) * per_out]
            for g in range(groups)
        ],
        axis=1,
    )


def detect_groups(kernel):
    """The largest ``g`` for which ``kernel (Cin, Cout)`` is block-diagonal
    with ``g`` blocks whose off-diagonal entries are exactly zero (1 for a
    kernel of zeros: nothing says it was grouped)."""
    cin, cout = kernel.shape
    g_max = int(np.gcd(cin, cout))
    if g_max < 2 or not np.any(kernel):
        return 1
    # Blocks for g imply blocks for every divisor of g, so g can only be
    # made of the primes whose blocks are zero off the diagonal; a dense
    # kernel shows it in one look at an off-diagonal corner per prime.
    primes = _prime_factors(g_max)
    passed = [p for p in primes if _off_diagonal_zero(kernel, p)]
    if not passed:
        return 1
    candidates = [
        d for d in range(2, g_max + 1)
        if g_max % d == 0 and all(d % p or p in passed for p in primes)
    ]
    for g in reversed(candidates):
        if _off_diagonal_zero(kernel, g):
            return g
    return 1


def _prime_factors(n):
    factors, p = [], 2
    while p * p <= n:
        if n % p == 0:
            factors.append(p)
            while n % p == 0:
                n //= p
        p += 1
    return factors + ([n] if n > 1 else [])


def _off_diagonal_zero(kernel, groups):
    cin, cout = kernel.shape
    blocks = kernel.reshape(groups, cin // groups, groups, cout // groups)
    if groups <= 8:  # views, no copy; stops at the first non-zero block
        return not any(
            np.any(blocks[i, :, j, :]) for i in range(groups) for j in range(groups) if i != j
        )
    return not np.any(blocks.transpose(0, 2, 1, 3)[~np.eye(groups, dtype=bool)])


def onnx_weight(kernel, groups, spatial):
    """``(Cin, Cout)`` block-diagonal Dense kernel -> ONNX conv weight
    ``(Cout, Cin/g, 1, ..)`` with `spatial` unit axes."""
    grouped = grouped_kernel(kernel, groups)
    cout = grouped.shape[1]
    return np.ascontiguousarray(grouped.T.reshape((cout, grouped.shape[0]) + (1,) * spatial))


def from_onnx_weight(weight, groups):
    """ONNX conv weight ``(Cout, Cin/g, 1, ..)`` -> ``(Cin, Cout)`` Dense kernel."""
    cout, per_in = weight.shape[:2]
    return np.ascontiguousarray(block_diagonal(weight.reshape(cout, per_in).T, groups))
