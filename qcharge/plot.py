"""Matplotlib figures (imported lazily: the numerical core never needs matplotlib)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from .exceptions import ParameterError

__all__ = ["figure_path", "demo_figure", "curves_figure"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only: works on machines without a display
    import matplotlib.pyplot as plt

    return plt


def figure_path(name: str, path: str) -> str:
    """The file matplotlib will write for ``path``: a missing suffix becomes ``.png``; others must be writable formats.

    >>> figure_path("plot", "out/fig")
    'out/fig.png'
    >>> figure_path("plot", "x.txt")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    qcharge.exceptions.ParameterError: Argument `plot` must end in a figure format matplotlib writes (...), but is 'x.txt'.
    """
    from matplotlib.backend_bases import FigureCanvasBase

    stem, suffix = os.path.splitext(path)
    if not suffix:
        return path + ".png"  # what savefig does (savefig.format = png), so the printed path is the real one
    formats = sorted(FigureCanvasBase.get_supported_filetypes())
    if suffix[1:].lower() not in formats:
        listed = ", ".join("." + f for f in formats)
        raise ParameterError(f"Argument `{name}` must end in a figure format matplotlib writes ({listed}), but is {path!r}.")
    return path


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
    if ch["twin_times"] is not None:
        ax.plot(ch["twin_times"], ch["twin_coherence_l1"], "C0--", label=f"collision model ({ch['ordering']}, θ={ch['theta']})")
    styles = [dict(fmt="o", ms=9, mfc="none", color="C1"), dict(fmt="s", ms=4, color="C2", capsize=3)]
    for style, pts in zip(styles, story["circuit_charging"]):
        yerr = None
        if pts["coherence_l1_ci"] is not None:
            lo, hi = zip(*pts["coherence_l1_ci"])
            yerr = [[v - a for v, a in zip(pts["coherence_l1"], lo)], [b - v for v, b in zip(pts["coherence_l1"], hi)]]
        ax.errorbar(pts["times"], pts["coherence_l1"], yerr=yerr, label=pts["label"], **style)
    ax.axhline(ch["long_time_coherence_l1"], color="gray", ls=":", lw=1, label="long-time closed form")
    ax.set(xlabel="γt", ylabel="$C_{l1}$ of the pair", title="(a) charging: heat-exchange coherence")
    ax.legend(fontsize=7)

    ax = axes[0, 1]
    ax.plot(ch["times"], ch["heat"], "k-", label="heat drawn from the bath ΔQ(t)")
    ax.axhline(ch["long_time_heat"], color="gray", ls=":", lw=1, label="long-time closed form")
    ax.set(xlabel="γt", ylabel="ΔQ / ω", title="(b) the bath pays: ΔQ = ΔE (no work is done)")
    ax.legend(fontsize=7)

    hv = story["harvesting"]
    ax = axes[1, 0]
    ax.plot(hv["temperatures"], hv["teff_charged"], "C3-", lw=3, alpha=0.5, label="charged pair (exact map, t → ∞)")
    ax.plot(hv["temperatures"], hv["teff_dephased"], "C0-", label="dephased twin (exact map, t → ∞)")
    ax.plot(hv["temperatures"], hv["temperatures"], "k--", lw=0.8, label="$T_{eff} = T$")
    labelled = set()
    for pts in story["circuit_harvesting"]:
        color = "C3" if pts["cluster"] == "charged" else "C0"
        label = f"circuit, {pts['cluster']} ({pts['mode']})"
        ci = pts["teff_ci"]
        style = dict(fmt="s", ms=5, capsize=3) if ci is not None else dict(fmt="D", ms=9, mfc="none")
        yerr = [[pts["teff"] - ci[0]], [ci[1] - pts["teff"]]] if ci is not None else None
        ax.errorbar([pts["temperature"]], [pts["teff"]], yerr=yerr, color=color,
                    label=None if label in labelled else label, **style)
        labelled.add(label)
    ax.set(xlabel="bath temperature T / ω", ylabel="probe $T_{eff}$ / ω", title="(c) harvesting: coherence back to heat")
    ax.legend(fontsize=7)

    sc = story["scaling"]
    ax = axes[1, 1]
    for label, ys in sc["log10_coherence_l1"].items():
        ax.plot(sc["atoms"], ys, "o-", label=label)
    ax.set(xlabel="N atoms", ylabel="log10 $C_{l1}$ (long time, certified)",
           title=f"(d) exponential (superlinear) growth with N, T = {ch['temperature']:g}")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
