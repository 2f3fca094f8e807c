"""Matplotlib figures (imported lazily: the numerical core never needs matplotlib)."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["demo_figure", "curves_figure"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only: works on machines without a display
    import matplotlib.pyplot as plt

    return plt


def curves_figure(x, curves: Mapping[str, list], *, xlabel: str, title: str, path: str) -> str:
    """One panel per curve (shared x), e.g. C_l1, C_re and heat versus time or versus N."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(curves), figsize=(4.2 * len(curves), 3.6), squeeze=False)
    for ax, (label, ys) in zip(axes[0], curves.items()):
        ax.plot(x, ys, "o-", ms=3)
        ax.set(xlabel=xlabel, ylabel=label)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def demo_figure(story: Mapping, path: str) -> str:
    """Four panels from the demo story: charging C_l1(t), heat(t), T_eff versus T, log10 C_l1 versus N.

    ``story`` is the dict built by :func:`qcharge.demo.build_story`; circuit points (with
    error bars) are drawn where the story has them.
    """
    plt = _pyplot()
    fig, axes = plt.subplots(2, 2, figsize=(10, 7.5))
    ch = story["charging"]
    ax = axes[0, 0]
    ax.plot(ch["times"], ch["coherence_l1"], "k-", label="master equation (exact)")
    if "twin_times" in ch:
        ax.plot(ch["twin_times"], ch["twin_coherence_l1"], "C0--", label=f"collision model ({ch['ordering']}, θ={ch['theta']})")
    for i, pts in enumerate(story.get("circuit_charging", [])):
        lo, hi = zip(*pts["coherence_l1_ci"]) if pts.get("coherence_l1_ci") else (None, None)
        yerr = None
        if lo is not None:
            yerr = [[v - a for v, a in zip(pts["coherence_l1"], lo)], [b - v for v, b in zip(pts["coherence_l1"], hi)]]
        ax.errorbar(pts["times"], pts["coherence_l1"], yerr=yerr, fmt="o", color=f"C{i + 1}", capsize=3, label=pts["label"])
    ax.axhline(ch["long_time_coherence_l1"], color="gray", ls=":", lw=1, label="long-time closed form")
    ax.set(xlabel="γt", ylabel="$C_{l1}$ of the pair", title="(a) charging: heat-exchange coherence")
    ax.legend(fontsize=7)

    ax = axes[0, 1]
    ax.plot(ch["times"], ch["heat"], "k-", label="heat drawn from the bath ΔQ")
    ax.axhline(ch["long_time_heat"], color="gray", ls=":", lw=1)
    ax.set(xlabel="γt", ylabel="ΔQ / ω", title="(b) the bath pays: first law ΔQ = ΔE")
    ax.legend(fontsize=7)

    hv = story["harvesting"]
    ax = axes[1, 0]
    ax.plot(hv["temperatures"], hv["temperatures"], "k:", lw=1, label="$T_{eff} = T$")
    ax.plot(hv["temperatures"], hv["teff_charged"], "C3-", label="charged pair (exact map)")
    ax.plot(hv["temperatures"], hv["teff_dephased"], "C0-", label="dephased twin (exact map)")
    for pts in story.get("circuit_harvesting", []):
        yerr = [[pts["teff"] - pts["teff_ci"][0]], [pts["teff_ci"][1] - pts["teff"]]]
        color = "C3" if pts["cluster"] == "charged" else "C0"
        ax.errorbar([pts["temperature"]], [pts["teff"]], yerr=yerr, fmt="s", color=color, capsize=3,
                    label=f"circuit, {pts['cluster']}")
    ax.set(xlabel="bath temperature T / ω", ylabel="probe $T_{eff}$ / ω", title="(c) harvesting: coherence back to heat")
    ax.legend(fontsize=7)

    sc = story["scaling"]
    ax = axes[1, 1]
    for label, ys in sc["log10_coherence_l1"].items():
        ax.plot(sc["atoms"], ys, "o-", label=label)
    ax.set(xlabel="N atoms", ylabel="log10 $C_{l1}$ (long time)", title="(d) superlinear growth with N")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
