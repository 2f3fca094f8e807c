"""State tomography: circuits, fitters, conventions, statistics, errors.

Truth for hand-written counts comes from exact probabilities (``expected_counts``, itself
checked against QuTiP projectors); the qubit-order and basis-change conventions are checked
end to end against Qiskit-Aer's SamplerV2 (tests only) and ``qiskit.quantum_info``.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import qutip
from hypothesis import given
from hypothesis import strategies as st
from qiskit import ClassicalRegister, QuantumCircuit
from qiskit.quantum_info import DensityMatrix

from qcharge import AnalysisError, ParameterError
from qcharge.states import basis_state, from_qiskit_order, product_state, thermal_qubit
from qcharge.tomography import (
    FIT_METHODS,
    bootstrap_interval,
    bootstrap_states,
    estimate_interval,
    estimate_with_interval,
    expected_counts,
    fit_state,
    linear_inversion,
    project_to_density_matrix,
    tomography_circuits,
    tomography_settings,
)

from .conftest import SEED, random_density_matrix

# Infinite-shot limit: counts = round(p * 1e9) perturbs each frequency by <= 5e-10; a matrix
# element of the linear inversion sums <= 3^n 2^n such terms with dual weights <= (2/3)^n,
# i.e. <= 1.3e-7 for n <= 4, and the projection is 1-Lipschitz. 1e-6 leaves a margin of ~10.
EXACT_SHOTS = 10**9
TOL_EXACT = 1e-6
# Exact arithmetic on small matrices (float64 round-off ~1e-15 per entry).
ROUNDOFF = 1e-10

KET0 = np.array([1, 0], dtype=complex)
KET1 = np.array([0, 1], dtype=complex)
PLUS = np.array([1, 1], dtype=complex) / np.sqrt(2)
PAULI = {
    "I": np.eye(2, dtype=complex),
    "X": np.array([[0, 1], [1, 0]], dtype=complex),
    "Y": np.array([[0, -1j], [1j, 0]], dtype=complex),
    "Z": np.diag([1.0, -1.0]).astype(complex),
}


def proj(ket) -> np.ndarray:
    ket = np.asarray(ket, dtype=complex)
    return np.outer(ket, ket.conj())


def bell() -> np.ndarray:
    return proj((np.kron(KET0, KET0) + np.kron(KET1, KET1)) / np.sqrt(2))


def charged_pair() -> np.ndarray:
    """N = 2 heat-exchange-coherent state: diagonal plus rho_{eg,ge} = 0.08 (QuTiP indices 2, 1)."""
    rho = np.diag([0.5, 0.2, 0.2, 0.1]).astype(complex)
    rho[2, 1] = rho[1, 2] = 0.08
    return rho


def werner(p: float = 0.7) -> np.ndarray:
    return p * bell() + (1 - p) * np.eye(4) / 4


def trace_distance(a, b) -> float:
    return 0.5 * float(np.abs(np.linalg.eigvalsh(a - b)).sum())


def metadata_for(qubits):
    return [{"tomography_qubits": list(qubits), "tomography_basis": b} for b in tomography_settings(len(qubits))]


def exact_counts(rho):
    n = int(np.log2(rho.shape[0]))
    return [expected_counts(rho, b, EXACT_SHOTS) for b in tomography_settings(n)]


def sampled_counts(rho, shots: int, rng: np.random.Generator):
    """Multinomial counts of every setting, keys little-endian like SamplerV2."""
    n = int(np.log2(rho.shape[0]))
    out = []
    for b in tomography_settings(n):
        probs = np.array([qutip_probability(rho, b, o) for o in range(2**n)])
        draws = rng.multinomial(shots, probs / probs.sum())
        out.append({format(o, f"0{n}b"): int(c) for o, c in enumerate(draws) if c})
    return out


def qutip_probability(rho, setting: str, outcome: int) -> float:
    """Born probability built independently with QuTiP eigenstates (listed qubit i = factor i,
    outcome bit i = bit i of ``outcome``; bit 0 = the +1 eigenstate)."""
    eig = {
        ("Z", 0): qutip.basis(2, 0),
        ("Z", 1): qutip.basis(2, 1),
        ("X", 0): (qutip.basis(2, 0) + qutip.basis(2, 1)).unit(),
        ("X", 1): (qutip.basis(2, 0) - qutip.basis(2, 1)).unit(),
        ("Y", 0): (qutip.basis(2, 0) + 1j * qutip.basis(2, 1)).unit(),
        ("Y", 1): (qutip.basis(2, 0) - 1j * qutip.basis(2, 1)).unit(),
    }
    ket = qutip.tensor([eig[letter, (outcome >> i) & 1] for i, letter in enumerate(setting)])
    return float(np.real(ket.dag().full() @ rho @ ket.full()).item())


def is_density_matrix(rho, tol: float = ROUNDOFF) -> bool:
    return (
        np.allclose(rho, rho.conj().T, atol=tol)
        and abs(np.trace(rho) - 1) < tol
        and np.linalg.eigvalsh(rho).min() > -tol
    )


# ---------------------------------------------------------------------------------------
# expected_counts and the key convention
# ---------------------------------------------------------------------------------------


def test_key_convention_last_character_is_first_listed_qubit():
    # First listed qubit excited, second in ground: QuTiP |10>, Sampler key '01'.
    assert expected_counts(basis_state("10"), "ZZ", 100) == {"01": 100}
    assert expected_counts(basis_state("100"), "ZZZ", 7) == {"001": 7}
    # X on the first listed qubit only: that qubit's bit is random, the other's fixed at 1.
    rho = product_state([proj(KET0), proj(KET1)])
    assert expected_counts(rho, "XZ", 1000) == {"10": 500, "11": 500}


@pytest.mark.parametrize("n", [1, 2, 3])
def test_expected_counts_match_qutip_born_rule(n, rng):
    rho = random_density_matrix(2**n, rng)
    for setting in tomography_settings(n):
        got = expected_counts(rho, setting, EXACT_SHOTS)
        for o in range(2**n):
            p = qutip_probability(rho, setting, o)
            # Rounding to an integer count: <= 0.5 / 1e9 plus float error.
            assert abs(got.get(format(o, f"0{n}b"), 0) / EXACT_SHOTS - p) < 1e-9


# ---------------------------------------------------------------------------------------
# Exact (infinite-shot) reconstruction
# ---------------------------------------------------------------------------------------

KNOWN_STATES = {
    "|0>": proj(KET0),
    "|1>": proj(KET1),
    "|+>": proj(PLUS),
    "|+i>": proj(np.array([1, 1j]) / np.sqrt(2)),
    "|eg>": basis_state("10"),
    "bell": bell(),
    "thermal_pair": product_state([thermal_qubit(0.7), thermal_qubit(1.3)]),
    "charged_pair": charged_pair(),
    "werner": werner(),
}


@pytest.mark.parametrize("method", FIT_METHODS)
@pytest.mark.parametrize("name", list(KNOWN_STATES))
def test_exact_counts_reconstruct_known_states(name, method):
    if method == "qiskit_experiments":
        pytest.importorskip("qiskit_experiments")
    rho = KNOWN_STATES[name]
    n = int(np.log2(rho.shape[0]))
    fit = fit_state(exact_counts(rho), metadata_for(range(n)), method=method)
    assert fit.shape == rho.shape
    assert np.max(np.abs(fit - rho)) < TOL_EXACT
    assert is_density_matrix(fit)


@pytest.mark.parametrize("n", [1, 2, 3, 4])
@pytest.mark.parametrize("k", range(3))
def test_exact_counts_reconstruct_random_states(n, k):
    rho = random_density_matrix(2**n, np.random.default_rng([SEED, n, k]))
    fit = fit_state(exact_counts(rho), metadata_for(range(n)))
    assert np.max(np.abs(fit - rho)) < TOL_EXACT


def test_charged_pair_coherence_is_read_at_the_right_element():
    fit = fit_state(exact_counts(charged_pair()), metadata_for([0, 1]))
    # rho_{eg,ge}: QuTiP index of |eg> is 2, of |ge> is 1.
    assert abs(fit[2, 1] - 0.08) < TOL_EXACT
    assert abs(fit[3, 0]) < TOL_EXACT and abs(fit[1, 0]) < TOL_EXACT


def test_order_of_circuits_and_duplicates_do_not_matter(rng):
    rho = random_density_matrix(4, rng)
    counts, meta = exact_counts(rho), metadata_for([3, 1])
    perm = rng.permutation(len(counts))
    shuffled = fit_state([counts[i] for i in perm], [meta[i] for i in perm])
    # A setting split over two jobs: the counts are merged, not double-weighted.
    half = {k: v // 2 for k, v in counts[4].items()}
    rest = {k: v - v // 2 for k, v in counts[4].items()}
    split = fit_state(counts[:4] + [half, rest] + counts[5:], meta[:4] + [meta[4], meta[4]] + meta[5:])
    assert np.max(np.abs(shuffled - rho)) < TOL_EXACT
    assert np.max(np.abs(split - rho)) < TOL_EXACT


# ---------------------------------------------------------------------------------------
# Circuits
# ---------------------------------------------------------------------------------------


def test_tomography_circuits_structure_and_metadata():
    qc = QuantumCircuit(3, name="pair")
    qc.x(2)
    qc.metadata = {"theta": 0.3}
    circuits = tomography_circuits(qc, [2, 0])
    assert len(circuits) == 9
    assert [c.metadata["tomography_basis"] for c in circuits] == tomography_settings(2)
    assert qc.metadata == {"theta": 0.3} and qc.num_clbits == 0  # original untouched
    for c in circuits:
        assert c.metadata["theta"] == 0.3 and c.metadata["tomography_qubits"] == [2, 0]
        tomo = next(r for r in c.cregs if r.name == "tomo")
        assert tomo.size == 2
        measures = [(c.find_bit(i.qubits[0]).index, c.find_bit(i.clbits[0])) for i in c.data if i.operation.name == "measure"]
        # tomo[0] measures the first listed qubit (2), tomo[1] the second (0).
        assert [(q, loc.registers[0][1]) for q, loc in measures] == [(2, 0), (0, 1)]
    ops = circuits[tomography_settings(2).index("YX")].count_ops()
    assert ops["h"] == 2 and ops["sdg"] == 1


@pytest.mark.parametrize(
    "qubits, match",
    [([0, 0], "distinct"), ([3], "<= 2"), ([], "1 to 4"), ([0, 1.5], "integer")],
)
def test_tomography_circuits_rejects_bad_qubits(qubits, match):
    with pytest.raises(ParameterError, match=match):
        tomography_circuits(QuantumCircuit(3), qubits)


def test_tomography_circuits_rejects_bad_basis_and_register_clash():
    with pytest.raises(ParameterError, match="pauli"):
        tomography_circuits(QuantumCircuit(1), [0], basis="sic")
    qc = QuantumCircuit(1)
    qc.add_register(ClassicalRegister(1, "tomo"))
    with pytest.raises(ParameterError, match="tomo"):
        tomography_circuits(qc, [0])
    with pytest.raises(ParameterError, match="QuantumCircuit"):
        tomography_circuits("not a circuit", [0])


def test_final_measurement_on_a_tomography_qubit_warns_but_mid_circuit_does_not():
    qc = QuantumCircuit(2, 1)
    qc.h(0)
    qc.measure(0, 0)
    with pytest.warns(UserWarning, match=r"\[0\]"):
        tomography_circuits(qc, [0, 1])
    qc.h(0)  # measurement is now mid-circuit
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tomography_circuits(qc, [0, 1])


# ---------------------------------------------------------------------------------------
# End to end with Qiskit-Aer (test only): qubit order, basis changes, other registers
# ---------------------------------------------------------------------------------------


def _entangling_circuit() -> QuantumCircuit:
    """3 qubits, generic complex reduced states (Y-sensitive), asymmetric under qubit swap."""
    qc = QuantumCircuit(3)
    qc.ry(0.9, 0)
    qc.rz(0.4, 0)
    qc.h(1)
    qc.s(1)
    qc.cx(1, 2)
    qc.ry(1.7, 2)
    qc.cx(0, 1)
    qc.rx(0.3, 1)
    qc.x(2)
    qc.sdg(0)
    return qc


def _reduced_truth(qc: QuantumCircuit, qubits) -> np.ndarray:
    full = from_qiskit_order(DensityMatrix(qc).data)  # atom q = factor q
    n = qc.num_qubits
    others = [q for q in range(n) if q not in qubits]
    obj = qutip.Qobj(full, dims=[[2] * n, [2] * n]).permute(list(qubits) + others)
    return obj.ptrace(list(range(len(qubits)))).full()


AER_SHOTS = 4000
# Trace-distance bound for 2-qubit tomography with S shots per setting (see the sampled test):
# E ||rho_hat - rho||_2^2 <= 11 / (4 S) and T <= ||.||_2 for d = 4, so 3x the rms is 5/sqrt(S).
TD_BOUND_2Q = 5.0 / np.sqrt(AER_SHOTS)


@pytest.mark.parametrize("qubits", [[2, 0], [0, 2], [1, 2]])
def test_aer_end_to_end_order_and_mid_circuit_register(qubits):
    from qiskit_aer.primitives import SamplerV2

    base = _entangling_circuit()
    truth = _reduced_truth(base, qubits)
    swapped = _reduced_truth(base, qubits[::-1])
    # Preconditions: this state tells a swapped qubit order, and a flipped Y sign (which
    # would give the transpose = complex conjugate), from the truth.
    assert trace_distance(truth, swapped) > 0.3 and trace_distance(truth, truth.T) > 0.3

    qc = base.copy()
    anc = [q for q in range(3) if q not in qubits][0]
    creg = ClassicalRegister(1, "anc")
    qc.add_register(creg)
    qc.measure(anc, creg[0])  # another register, measured before the tomography settings
    circuits = tomography_circuits(qc, qubits)
    result = SamplerV2(seed=SEED).run(circuits, shots=AER_SHOTS).result()
    meta = [c.metadata for c in circuits]
    counts = [r.data.tomo.get_counts() for r in result]
    fit = fit_state(counts, meta)
    assert trace_distance(fit, truth) < TD_BOUND_2Q
    assert trace_distance(fit, swapped) > 0.3 - TD_BOUND_2Q
    assert trace_distance(fit, truth.T) > 0.3 - TD_BOUND_2Q
    # Full-width keys (all registers) are marginalised onto 'tomo': same counts, same fit.
    full = [r.join_data().get_counts() for r in result]
    assert len(next(iter(full[0]))) == 3
    assert np.array_equal(fit_state(full, meta), fit)


def test_aer_single_qubit_x_gate():
    from qiskit_aer.primitives import SamplerV2

    qc = QuantumCircuit(2)
    qc.x(1)
    circuits = tomography_circuits(qc, [1])
    result = SamplerV2(seed=SEED).run(circuits, shots=2000).result()
    fit = fit_state([r.data.tomo.get_counts() for r in result], [c.metadata for c in circuits])
    # Z setting is deterministic; X/Y statistical error ~ 1/sqrt(2000) = 0.022 per Bloch
    # component, so 5/sqrt(S) = 0.11 bounds the trace distance comfortably.
    assert trace_distance(fit, proj(KET1)) < 5 / np.sqrt(2000)


# ---------------------------------------------------------------------------------------
# Sampled tomography and projection
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("shots", [300, 3000, 30000])
def test_sampled_tomography_trace_distance_scales_as_one_over_sqrt_shots(shots):
    # For 2 qubits with S shots per setting, the linear-inversion Pauli estimates have
    # Var <= 1/(3S) (weight-1 Paulis, averaged over 3 settings; 6 of them) and <= 1/S
    # (weight 2; 9 of them), so E||rho_LI - rho||_2^2 <= (6/(3S) + 9/S)/4 = 11/(4S). The
    # projection onto density matrices is non-expansive and T <= (sqrt(4)/2)||.||_2, so
    # the rms trace distance is <= 1.66/sqrt(S); we allow 3x that for each of 5 seeds.
    rho = werner(0.8) * 0.5 + 0.5 * charged_pair()
    dists = []
    for k in range(5):
        counts = sampled_counts(rho, shots, np.random.default_rng([SEED, shots, k]))
        fit = fit_state(counts, metadata_for([0, 1]))
        assert is_density_matrix(fit)
        dists.append(trace_distance(fit, rho))
    assert max(dists) < 3 * np.sqrt(11 / 4) / np.sqrt(shots)
    assert min(dists) > 0  # sampling noise is really there


def test_projection_repairs_non_physical_linear_inversion():
    rng = np.random.default_rng(SEED)
    for rho, n in [(proj(KET0), 1), (bell(), 2), (basis_state("101"), 3)]:
        counts = sampled_counts(rho, 30, rng)
        raw = linear_inversion(counts, metadata_for(range(n)))
        # Pure states + 30 shots: the raw estimate leaves the state space.
        assert np.linalg.eigvalsh(raw).min() < -1e-3
        assert abs(np.trace(raw) - 1) < ROUNDOFF
        fit = fit_state(counts, metadata_for(range(n)))
        assert is_density_matrix(fit)
        # Closest in 2-norm: no other density matrix is nearer than the projection.
        d_fit = np.linalg.norm(fit - raw)
        for _ in range(50):
            other = random_density_matrix(2**n, rng)
            assert d_fit <= np.linalg.norm(other - raw) + ROUNDOFF
        assert d_fit <= np.linalg.norm(rho - raw) + ROUNDOFF


def test_projection_matches_smolin_worked_example():
    # Smolin-Gambetta-Smith: eigenvalues (0.6, 0.5, 0.1, -0.2): drop -0.2, spread -0.2/3
    # over the rest -> (0.6-1/15, 0.5-1/15, 0.1-1/15, 0).
    u = np.linalg.qr(np.random.default_rng(SEED).normal(size=(4, 4)) + 0j)[0]
    mu = np.array([0.6, 0.5, 0.1, -0.2])
    got = project_to_density_matrix(u @ np.diag(mu) @ u.conj().T)
    want = u @ np.diag([0.6 - 1 / 15, 0.5 - 1 / 15, 0.1 - 1 / 15, 0.0]) @ u.conj().T
    assert np.max(np.abs(got - want)) < ROUNDOFF
    # Already physical: unchanged.
    rho = random_density_matrix(8, np.random.default_rng(SEED))
    assert np.max(np.abs(project_to_density_matrix(rho) - rho)) < ROUNDOFF


def test_qiskit_experiments_fitter_agrees_on_noisy_data():
    pytest.importorskip("qiskit_experiments")
    rng = np.random.default_rng(SEED)
    for n, shots in [(1, 20), (2, 40), (2, 2000), (3, 50)]:
        rho = random_density_matrix(2**n, rng)
        counts, meta = sampled_counts(rho, shots, rng), metadata_for(range(n))
        ours = fit_state(counts, meta)
        theirs = fit_state(counts, meta, method="qiskit_experiments")
        # Same estimator (dual-frame linear inversion + Smolin projection): round-off only.
        assert np.max(np.abs(ours - theirs)) < ROUNDOFF
        assert is_density_matrix(theirs)


# ---------------------------------------------------------------------------------------
# Bootstrap
# ---------------------------------------------------------------------------------------


def xx(rho) -> float:
    return float(np.real(np.trace(rho @ np.kron(PAULI["X"], PAULI["X"]))))


def bell_fidelity(rho) -> float:
    return float(np.real(np.trace(bell() @ rho)))


def test_bootstrap_states_are_physical_and_reproducible(rng):
    counts, meta = sampled_counts(werner(), 500, rng), metadata_for([0, 1])
    a = bootstrap_states(counts, meta, n_resamples=50, seed=7)
    b = bootstrap_states(counts, meta, n_resamples=50, seed=7)
    c = bootstrap_states(counts, meta, n_resamples=50, seed=8)
    assert a.shape == (50, 4, 4)
    assert np.array_equal(a, b) and not np.allclose(a, c)
    assert all(is_density_matrix(s) for s in a)
    d = bootstrap_states(counts, meta, n_resamples=20, seed=7, resample_from="counts")
    assert d.shape == (20, 4, 4) and all(is_density_matrix(s) for s in d)


def test_bootstrap_interval_is_the_percentile_interval():
    samples = np.arange(1001) / 1000.0
    lo, hi = bootstrap_interval(samples, level=0.95)
    assert abs(lo - 0.025) < 1e-12 and abs(hi - 0.975) < 1e-12
    for bad in (0.0, 1.0, 1.5):
        with pytest.raises(ParameterError, match="level"):
            bootstrap_interval(samples, level=bad)
    with pytest.raises(ParameterError, match="samples"):
        bootstrap_interval(np.ones((3, 3)))


@given(
    value=st.floats(0.0, 1.0),
    shift=st.floats(-0.5, 0.5),
    spread=st.floats(1e-6, 0.3),
    seed=st.integers(0, 2**32 - 1),
)
def test_estimate_interval_contains_the_estimate_and_stays_in_range(value, shift, spread, seed):
    # Refits biased by `shift` (either way, up to many spreads) around an estimate in [0, 1]: the
    # interval must contain the estimate and stay in [0, 1] whatever the bias.
    samples = value + shift + spread * np.random.default_rng(seed).normal(size=50)
    lo, hi = estimate_interval(value, samples, bounds=(0.0, 1.0))
    assert 0.0 <= lo <= value <= hi <= 1.0


def test_estimate_interval_is_the_basic_interval_when_that_contains_the_estimate():
    samples = np.arange(1001) / 1000.0  # 2.5 % and 97.5 % quantiles 0.025, 0.975
    lo, hi = estimate_interval(0.5, samples)
    assert abs(lo - 0.025) < 1e-12 and abs(hi - 0.975) < 1e-12
    # Refits centred 0.2 above the estimate: basic = [2*0.3 - 0.975, 2*0.3 - 0.025] = [-0.375, 0.575] -> [0, 0.575].
    lo, hi = estimate_interval(0.3, samples + 0.0, bounds=(0.0, 1.0))
    assert lo == 0.0 and abs(hi - 0.575) < 1e-12
    # An estimate a round-off outside its range keeps its interval (fidelity 1 + 1e-16).
    assert estimate_interval(1.0 + 1e-15, np.full(5, 0.9), bounds=(0.0, 1.0))[1] == 1.0 + 1e-15


def test_bootstrap_intervals_cover_exact_values():
    # Werner(0.7): <XX> = 0.7, Bell fidelity 0.775, both interior (not at the boundary
    # where percentile intervals of a projected estimator are biased). 40 independent
    # data sets of 1000 shots per setting: a 95% interval covers ~38 times; with p = 0.95,
    # P(coverage <= 32 of 40) = 0.07%, so >= 33 fails only for a badly miscalibrated
    # interval (for a true 90% interval it would already fail 4% of the time).
    rho = werner(0.7)
    meta = metadata_for([0, 1])
    hits = {"xx": 0, "fid": 0}
    stds = []
    for k in range(40):
        counts = sampled_counts(rho, 1000, np.random.default_rng([SEED, 77, k]))
        est = estimate_with_interval(counts, meta, xx, n_resamples=200, seed=k)
        hits["xx"] += est["ci"][0] <= 0.7 <= est["ci"][1]
        stds.append(est["std"])
        est = estimate_with_interval(counts, meta, bell_fidelity, n_resamples=200, seed=1000 + k)
        hits["fid"] += est["ci"][0] <= 0.775 <= est["ci"][1]
    assert hits["xx"] >= 33 and hits["fid"] >= 33
    # <XX> comes from the single XX setting: std = sqrt((1 - 0.7^2)/1000) = 0.0226. The
    # bootstrap std of 200 resamples has ~5% relative error; allow 20%.
    assert abs(np.mean(stds) / np.sqrt(0.51 / 1000) - 1) < 0.2


def test_estimate_with_interval_is_json_ready(rng):
    counts, meta = sampled_counts(bell(), 200, rng), metadata_for([1, 0])
    est = estimate_with_interval(counts, meta, xx, n_resamples=30, seed=3, bounds=(-1.0, 1.0))
    assert -1.0 <= est["ci"][0] <= est["value"] <= est["ci"][1] <= 1.0 and est["std"] > 0
    assert est["ci_method"] == "basic bootstrap, widened to the estimate, clipped to the range"
    assert json.loads(json.dumps(est)) == est
    with pytest.raises(ParameterError, match="real"):
        estimate_with_interval(counts, meta, lambda r: complex(r[0, 1]) + 0.5j, n_resamples=5, seed=1)


# ---------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------


def test_missing_settings_are_named():
    counts, meta = exact_counts(bell()), metadata_for([0, 1])
    with pytest.raises(AnalysisError, match=r"Missing 1 of 9 .*'XY'"):
        fit_state(counts[:5] + counts[6:], meta[:5] + meta[6:])


def test_wrong_width_keys_zero_shots_and_bad_metadata():
    counts, meta = exact_counts(bell()), metadata_for([0, 1])
    with pytest.raises(AnalysisError, match="3 bits, but 2 tomography"):
        fit_state([{"0" + k: v for k, v in c.items()} for c in counts], meta)
    with pytest.raises(AnalysisError, match="zero shots"):
        fit_state(counts[:-1] + [{}], meta)
    with pytest.raises(AnalysisError, match="zero shots"):
        fit_state(counts[:-1] + [{"00": 0}], meta)
    with pytest.raises(AnalysisError, match="9 counts .* 8 metadata"):
        fit_state(counts, meta[:-1])
    with pytest.raises(AnalysisError, match="tomography_qubits"):
        fit_state(counts, meta[:-1] + [{"tomography_qubits": [1, 0], "tomography_basis": "YY"}])
    with pytest.raises(AnalysisError, match="tomography_circuits"):
        fit_state(counts, meta[:-1] + [{"theta": 1}])
    with pytest.raises(AnalysisError, match="not a Pauli setting"):
        fit_state(counts, meta[:-1] + [{"tomography_qubits": [0, 1], "tomography_basis": "YW"}])
    with pytest.raises(AnalysisError, match="non-negative integer"):
        fit_state(counts[:-1] + [{"00": -3}], meta)
    with pytest.raises(AnalysisError, match="bit string"):
        fit_state(counts[:-1] + [{"0x3": 5}], meta)


def test_unknown_method_lists_valid_names():
    counts, meta = exact_counts(proj(PLUS)), metadata_for([0])
    with pytest.raises(ParameterError, match="lininv_projected.*qiskit_experiments"):
        fit_state(counts, meta, method="mle")
    with pytest.raises(ParameterError, match="resample_from"):
        bootstrap_states(counts, meta, seed=1, resample_from="nowhere")
