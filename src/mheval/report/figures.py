"""Report figures, drawn from results files (never recomputed here)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

ARM_COLORS = {"intervention": "#1b6ca8", "control": "#d95f02"}
POP_LABELS = {"high": "High risk", "medium": "Medium risk", "high_medium": "High + medium risk"}
SOURCE = "Source: mheval analysis of registry, Medicare enrollment and claims"


def _save(fig, paths) -> None:
    for p in paths:
        Path(p).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(p, dpi=150, bbox_inches="tight", metadata={"Date": None} if str(p).endswith(".svg") else None)
    plt.close(fig)


def plot_cumulative_incidence(curves: pd.DataFrame, paths) -> None:
    """Cumulative incidence (percent) by arm, one panel per population, with pointwise bands."""
    pops = list(dict.fromkeys(curves["population"]))
    fig, axes = plt.subplots(1, len(pops), figsize=(5.2 * len(pops), 4.2), sharey=True, squeeze=False)
    for ax, pop in zip(axes[0], pops):
        d = curves[curves["population"] == pop]
        for arm, g in d.groupby("arm", sort=False):
            ax.step(g["years"], 100 * g["cumulative_incidence"], where="post", color=ARM_COLORS[arm], label=arm.capitalize())
            ax.fill_between(g["years"], 100 * g["lower"], 100 * g["upper"], step="post", color=ARM_COLORS[arm], alpha=0.15)
        ax.set_title(POP_LABELS.get(pop, pop))
        ax.set_xlabel("Years since enrollment")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("Cumulative incidence, percent")
    axes[0][0].legend(frameon=False)
    label = curves["outcome_label"].iloc[0]
    fig.suptitle(f"{label}: cumulative incidence by arm (Kaplan-Meier, unadjusted; 90% pointwise bands)")
    fig.text(0.01, -0.02, SOURCE, fontsize=8, color="#555")
    _save(fig, paths)


def plot_cohort_flow(flow: pd.DataFrame, paths) -> None:
    """The cohort flow as a diagram: enrolled, exclusions by reason, analyzed, by arm."""
    fig, ax = plt.subplots(figsize=(9, 0.5 * len(flow) + 0.6))
    ax.axis("off")

    def fmt(v):
        return "suppressed" if pd.isna(v) else f"{int(v):,}"

    y = len(flow)
    for _, r in flow.iterrows():
        step = r["step"]
        indent = 0.08 if step.startswith("excluded:") or step.startswith("analyzed:") else 0.0
        box = "round,pad=0.3"
        color = "#fbe3d3" if step.startswith("excluded:") else "#dbe9f6"
        text = f"{r['label'].strip()}\nIntervention {fmt(r['n_intervention'])}  |  Control {fmt(r['n_control'])}  |  Total {fmt(r['n_total'])}"
        ax.text(0.02 + indent, y, text, va="center", ha="left", fontsize=8.5,
                bbox=dict(boxstyle=box, fc=color, ec="#777"))
        y -= 1
    ax.set_ylim(0.4, len(flow) + 0.6)
    ax.set_xlim(0, 1)
    ax.set_title("Cohort flow: registry enrollees to the analysis population", loc="left")
    fig.text(0.01, 0.01, SOURCE + ". Counts from 1 to 10 are suppressed (CMS cell-size policy).", fontsize=7.5, color="#555")
    _save(fig, paths)
