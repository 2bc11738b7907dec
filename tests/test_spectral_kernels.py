"""The numba kernels of spectral noise reduction, called on their own."""

from __future__ import annotations

import numpy as np
from scipy.special import exp1

from clarity_fx.processors import _spectral_kernels as kernels


def test_lsa_table_matches_exp1():
    table = kernels.lsa_table()
    v = np.geomspace(1e-7, 200, 2000)
    approx = np.array([kernels.lsa_factor(float(vi), table) for vi in v])
    exact = np.exp(0.5 * exp1(v))
    assert np.abs(approx / exact - 1).max() <= 1e-5
