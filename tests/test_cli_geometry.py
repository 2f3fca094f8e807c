"""CLI wiring of the free-space geometry, the coherence lifetime and the probe coupling vector (issue 8)."""

from __future__ import annotations

import json
import math

import pytest

from .test_cli import one_line_error, run_json

# Printed 4-digit figures of the issue (pair at T = 1 from ground, C_l1(t = 5), dipoles along z):
# half a unit of the last printed digit.
ISSUE_L1 = [(0.01, 0.2422, 5e-5), (0.1, 0.0878, 5e-5), (0.5, 1.2e-5, 5e-8)]


@pytest.mark.parametrize("r, l1, tol", ISSUE_L1)
def test_pair_coherence_versus_distance(capsys, r, l1, tol):
    out = run_json(capsys, ["charge", "--distance", str(r), "-T", "1", "--times", "5"])
    assert out["coherence_l1"][0] == pytest.approx(l1, abs=tol)
    # the matrices the geometry gave, beside the result: gamma_12 = F(k r), Omega_12 = G(k r), dipole z
    # perpendicular to the pair's axis (alpha = pi/2), from the elementary spherical Bessel functions:
    # F = 3/2 (j0 - j1/xi), G = 3/4 (y0 - y1/xi). Exact vs exact, a few ulp of O(1/xi^3) terms: 1e-9.
    x = 2 * math.pi * r
    j0, j1 = math.sin(x) / x, math.sin(x) / x**2 - math.cos(x) / x
    y0, y1 = -math.cos(x) / x, -math.cos(x) / x**2 - math.sin(x) / x
    assert out["gamma_matrix"][0][1] == pytest.approx(1.5 * (j0 - j1 / x), rel=1e-9)
    assert out["dipolar_matrix"][0][1] == pytest.approx(0.75 * (y0 - y1 / x), rel=1e-9)
    assert out["coherence_lifetime"] > 0


def test_lifetime_is_printed_and_inf_when_protected(capsys):
    out = run_json(capsys, ["charge", "-N", "2", "-T", "1", "--gamma12", "0.9999", "--times", "100", "--long-time"])
    # C_l1(100) = 0.238 while the long-time value is 0: the lifetime 1/(1e-4 * 2.6935) explains it
    assert out["coherence_l1"][0] == pytest.approx(0.238, abs=5e-4) and out["long_time"]["coherence_l1"] < 1e-8
    assert out["coherence_lifetime"] == pytest.approx(3712.6, abs=0.1)
    dicke = run_json(capsys, ["charge", "-N", "3", "-T", "1", "--times", "1"])
    assert dicke["coherence_lifetime"] == math.inf


def test_positions_file_and_dipole(tmp_path, capsys):
    path = tmp_path / "triangle.json"
    s = 0.01
    path.write_text(json.dumps([[0, 0, 0], [s, 0, 0], [s / 2, s * math.sqrt(3) / 2, 0]]))
    out = run_json(capsys, ["charge", "--positions", str(path), "-T", "1", "--times", "5"])
    # dipoles perpendicular to the triangle's plane: uniform gamma_ij and Omega_ij (permutation solver)
    assert out["method"] == "permutation" and len(out["gamma_matrix"]) == 3
    assert one_line_error(capsys, ["charge", "--positions", str(path), "-N", "2", "-T", "1"]).count("`--atoms`")


@pytest.mark.parametrize("argv, word", [
    (["charge", "--distance", "0.1", "--gamma12", "0.5", "-T", "1"], "exclusive"),
    (["charge", "--distance", "0.1", "--dipole", "w", "-T", "1"], "`--dipole`"),
    (["charge", "--distance", "-0.1", "-T", "1"], "`--distance`"),
    (["charge", "-T", "1"], "`--atoms`"),
    (["charge", "--positions", "missing.json", "-T", "1"], "`--positions`"),
])
def test_bad_geometry_is_one_line(capsys, argv, word):
    assert word in one_line_error(capsys, argv)


def test_coupling_vector_hides_the_coherence(tmp_path, capsys):
    path = tmp_path / "g.json"
    path.write_text("[1, 0]")
    # one atom coupled: charged and dephased pairs give the same T_eff (0.763038 at T = 1, 6 printed digits)
    charged = run_json(capsys, ["harvest", "--cluster", "charged", "-T", "1", "--coupling", str(path)])
    dephased = run_json(capsys, ["harvest", "--cluster", "dephased", "-T", "1", "--coupling", str(path)])
    assert charged["teff"] == pytest.approx(0.763038, abs=5e-7) and dephased["teff"] == pytest.approx(charged["teff"], rel=1e-10)
    path.write_text("[1, 0, 1]")
    assert "`--coupling`" in one_line_error(capsys, ["harvest", "--cluster", "charged", "-T", "1", "--coupling", str(path)])
