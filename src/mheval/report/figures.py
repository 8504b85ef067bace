"""Report figures, drawn from results files (never recomputed here)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

ARM_COLORS = {"intervention": "#1b6ca8", "control": "#d95f02"}
POP_LABELS = {"high": "High risk", "medium": "Medium risk", "high_medium": "High + medium risk"}
SOURCE = "Source: mheval analysis of registry, Medicare enrollment and claims"


# Byte-identical figures from the same inputs: SVG element ids (clip paths) are hashed with a fixed
# salt rather than a random one, and no file carries the time it was written (SVG: no date;
# PNG: matplotlib writes no tIME chunk, and no Software text, which names matplotlib's version)
SVG_HASHSALT = "mheval"
METADATA = {".svg": {"Date": None}, ".png": {"Software": None}}


def _save(fig, paths) -> None:
    with matplotlib.rc_context({"svg.hashsalt": SVG_HASHSALT}):
        for p in paths:
            Path(p).parent.mkdir(parents=True, exist_ok=True)
            fig.savefig(p, dpi=150, bbox_inches="tight", metadata=METADATA.get(Path(p).suffix.lower()))
    plt.close(fig)


def plot_cumulative_incidence(curves: pd.DataFrame, paths, level: int = 90) -> None:
    """1 - Kaplan-Meier (percent) by arm, one panel per population, with pointwise ``level`` percent
    bands (``models.alpha``): for an outcome with a competing risk (death without the event) a
    sensitivity analysis, as it treats those deaths as censored."""
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
    how = ("no competing risk" if "outcome" in curves and curves["outcome"].iloc[0] == "death"
           else "sensitivity: a death without the event censored")
    fig.suptitle(f"{label}: 1 - Kaplan-Meier by arm, unadjusted ({how}; {level}% pointwise bands)")
    fig.text(0.01, -0.02, SOURCE, fontsize=8, color="#555")
    _save(fig, paths)


def plot_cohort_flow(flow: pd.DataFrame, paths,
                     title: str = "Cohort flow: registry enrollees to the analysis population") -> None:
    """A flow table as a diagram, by arm: the cohort flow (enrolled, exclusions by reason, analyzed)
    or the organization flow (randomized, withdrawn, enrolling, analyzed); a step whose label starts
    with spaces is drawn indented under the one before."""
    fig, ax = plt.subplots(figsize=(9, 0.5 * len(flow) + 0.6))
    ax.axis("off")

    def fmt(v):
        return "suppressed" if pd.isna(v) else f"{int(v):,}"

    y = len(flow)
    for _, r in flow.iterrows():
        step = r["step"]
        indent = 0.08 if step.startswith(("excluded:", "analyzed:")) or r["label"].startswith("  ") else 0.0
        box = "round,pad=0.3"
        color = "#fbe3d3" if step.startswith("excluded:") else "#dbe9f6"
        text = f"{r['label'].strip()}\nIntervention {fmt(r['n_intervention'])}  |  Control {fmt(r['n_control'])}  |  Total {fmt(r['n_total'])}"
        ax.text(0.02 + indent, y, text, va="center", ha="left", fontsize=8.5,
                bbox=dict(boxstyle=box, fc=color, ec="#777"))
        y -= 1
    ax.set_ylim(0.4, len(flow) + 0.6)
    ax.set_xlim(0, 1)
    ax.set_title(title, loc="left")
    fig.text(0.01, 0.01, SOURCE + ". Counts from 1 to 10 are suppressed (CMS cell-size policy).", fontsize=7.5, color="#555")
    _save(fig, paths)


def plot_not_estimable(paths, title: str, notes: list[str]) -> None:
    """A figure that says why there is nothing to draw (outcomes not estimable, with reasons), so
    that a report figure is never missing and never drawn from numbers that do not exist."""
    fig, ax = plt.subplots(figsize=(7.5, 1.2 + 0.3 * max(len(notes), 1)))
    ax.axis("off")
    ax.set_title(title, fontsize=10, loc="left")
    ax.text(0.0, 1.0, "\n".join(notes) or "Not estimable.", va="top", ha="left", fontsize=9, transform=ax.transAxes,
            wrap=True)
    fig.text(0.01, 0.01, SOURCE, fontsize=7.5, color="#555")
    _save(fig, paths)


def _not_estimable_lines(results: list[dict], labels: dict | None = None) -> list[str]:
    return [f"{(labels or {}).get(r['outcome'], r['outcome'])}, {POP_LABELS.get(r['population'], r['population'])}: "
            f"not estimable ({r['reason']})" for r in results if not r.get("estimable", True)]


def plot_impacts_by_year(results: list[dict], paths, labels: dict | None = None) -> None:
    """Impact by follow-up year with (1 - alpha) intervals: one panel per outcome, populations side
    by side, drawn from Equation 1 result files. Not-estimable results are listed under the
    figure with their reasons (and, when nothing is estimable, the figure says so)."""
    notes = _not_estimable_lines(results, labels)
    results = [r for r in results if r.get("estimable", True)]
    if not results:
        plot_not_estimable(paths, "Impact by follow-up year (Equation 1)", notes)
        return
    outcomes = list(dict.fromkeys(r["outcome"] for r in results))
    fig, axes = plt.subplots(len(outcomes), 1, figsize=(7.5, 2.3 * len(outcomes)), squeeze=False)
    colors = {"high": "#b2182b", "medium": "#ef8a62", "high_medium": "#2166ac"}
    for ax, outcome in zip(axes[:, 0], outcomes):
        rs = [r for r in results if r["outcome"] == outcome]
        for k, r in enumerate(rs):
            rows = [row for row in r["by_year"]]
            x = [int(row["period"].split()[-1]) + (k - (len(rs) - 1) / 2) * 0.15 for row in rows]
            y = [row["impact"] for row in rows]
            err = [[row["impact"] - row["lower"] for row in rows], [row["upper"] - row["impact"] for row in rows]]
            ax.errorbar(x, y, yerr=err, fmt="o", capsize=3, color=colors.get(r["population"], "k"),
                        label=POP_LABELS.get(r["population"], r["population"]))
        ax.axhline(0, color="#555", lw=0.8)
        ax.set_title((labels or {}).get(outcome, outcome), fontsize=10, loc="left")
        ax.set_xticks(sorted({int(row["period"].split()[-1]) for r in rs for row in r["by_year"]}))
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("Year since enrollment")
    axes[0, 0].legend(frameon=False, fontsize=8)
    pct = int(round(100 * (1 - results[0]["alpha"])))
    fig.suptitle(f"Impact by follow-up year, intervention minus control ({pct}% intervals; Equation 1)", fontsize=11)
    fig.tight_layout()
    fig.text(0.01, -0.01, "\n".join([SOURCE] + notes), fontsize=7.5, color="#555", va="top")
    _save(fig, paths)


def _with_gaps(g: pd.DataFrame, step: float = 0.1) -> pd.DataFrame:
    """The rows of a curve with a blank row wherever consecutive times are more than ``step`` apart
    (times left out, e.g. for small counts), so that the line breaks there instead of bridging them."""
    g = g.sort_values("years")
    gap = np.flatnonzero(np.diff(g["years"].to_numpy()) > step)
    if not len(gap):
        return g
    blanks = pd.DataFrame({"years": g["years"].to_numpy()[gap] + step / 2})
    return pd.concat([g, blanks], ignore_index=True).sort_values("years", kind="stable")


def plot_adjusted_incidence(curves: pd.DataFrame, paths, title: str, level: int = 90) -> None:
    """Cumulative incidence by arm, death a competing risk: the standardized (Aalen-Johansen from
    cause-specific Cox models) curves with ``level`` percent cluster-bootstrap bands and the unadjusted
    Aalen-Johansen curves dashed, one panel per population, and the standardized difference in
    percentage points below; times left out of a curve (small counts) are a gap in it.

    ``curves``: columns population, method ("standardized", "unadjusted"; absent: standardized
    only), arm ("intervention", "control", "difference"), years, estimate, lower, upper (percent for
    the arms; the difference in percentage points)."""
    if "method" not in curves.columns:
        curves = curves.assign(method="standardized")
    pops = list(dict.fromkeys(curves["population"]))
    fig, axes = plt.subplots(2, len(pops), figsize=(5.2 * len(pops), 6.4), sharex=True, squeeze=False,
                             gridspec_kw={"height_ratios": [2.2, 1]})
    for k, pop in enumerate(pops):
        d = curves[(curves["population"] == pop) & (curves["method"] == "standardized")]
        u = curves[(curves["population"] == pop) & (curves["method"] == "unadjusted")]
        ax, axd = axes[0][k], axes[1][k]
        for arm in ("intervention", "control"):
            g = _with_gaps(d[d["arm"] == arm])
            ax.plot(g["years"], g["estimate"], color=ARM_COLORS[arm], label=f"{arm.capitalize()}, standardized")
            ax.fill_between(g["years"], g["lower"], g["upper"], color=ARM_COLORS[arm], alpha=0.15)
            g = _with_gaps(u[u["arm"] == arm])
            if len(g):
                ax.plot(g["years"], g["estimate"], color=ARM_COLORS[arm], ls="--", lw=0.9,
                        label=f"{arm.capitalize()}, unadjusted")
        g = _with_gaps(d[d["arm"] == "difference"])
        axd.plot(g["years"], g["estimate"], color="#333")
        axd.fill_between(g["years"], g["lower"], g["upper"], color="#333", alpha=0.15)
        axd.axhline(0, color="#555", lw=0.8)
        ax.set_title(POP_LABELS.get(pop, pop))
        axd.set_xlabel("Years since enrollment")
        for a in (ax, axd):
            a.grid(alpha=0.3)
    axes[0][0].set_ylabel("Cumulative incidence, percent")
    axes[1][0].set_ylabel("Difference, pp")
    axes[0][0].legend(frameon=False, fontsize=8)
    fig.suptitle(f"{title}: cumulative incidence by arm, death a competing risk (Aalen-Johansen; "
                 f"{level}% cluster-bootstrap bands)")
    fig.tight_layout()
    fig.text(0.01, -0.02, SOURCE + ". Times at which an arm has some but fewer than 11 events, or fewer than 11 "
             "beneficiaries at risk, are not drawn (CMS cell-size policy).", fontsize=8, color="#555")
    _save(fig, paths)


def plot_subgroup_forest(table: pd.DataFrame, paths, title: str, xlabel: str, null: float = 0.0,
                         log_x: bool = False, level: int = 90) -> None:
    """Subgroup impacts, unpooled (interaction model) and partially pooled (Bayesian hierarchical
    model), with ``level`` percent intervals, one row per subgroup level.

    ``table``: columns dimension, level, estimate, lower, upper (unpooled) and pooled_mean,
    pooled_lower, pooled_upper. ``log_x``: logarithmic axis (hazard ratios). Not-estimable rows (a
    nonempty ``note``) are not drawn; with none left, the figure says so."""
    if "note" in table:
        t = table[table["note"].fillna("") == ""].reset_index(drop=True)
        if t.empty:
            plot_not_estimable(paths, title, sorted(f"{d}: {n}" for d, n in zip(table["dimension"], table["note"])))
            return
    else:
        t = table.reset_index(drop=True)
    n = len(t)
    fig, ax = plt.subplots(figsize=(7.5, 0.34 * n + 1.4))
    y = list(range(n, 0, -1))
    ax.errorbar(t["estimate"], [v + 0.15 for v in y], xerr=[t["estimate"] - t["lower"], t["upper"] - t["estimate"]],
                fmt="o", color="#999", capsize=2, label="Unpooled (interaction model)")
    ax.errorbar(t["pooled_mean"], [v - 0.15 for v in y],
                xerr=[t["pooled_mean"] - t["pooled_lower"], t["pooled_upper"] - t["pooled_mean"]],
                fmt="s", color="#1b6ca8", capsize=2, label="Partially pooled (Bayesian)")
    ax.axvline(null, color="#555", lw=0.8)
    if log_x:
        ax.set_xscale("log")
    ax.set_yticks(y)
    ax.set_yticklabels([f"{d}: {lv}" for d, lv in zip(t["dimension"], t["level"])], fontsize=8)
    ax.set_xlabel(xlabel)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(frameon=False, fontsize=8, loc="lower right")
    ax.set_title(title, fontsize=10, loc="left")
    fig.tight_layout()
    fig.text(0.01, -0.01, SOURCE + f". {level}% intervals.", fontsize=7.5, color="#555")
    _save(fig, paths)


def plot_probability_of_size(curves: pd.DataFrame, paths, title: str) -> None:
    """Posterior probability that the impact is a reduction at least as large as each size.

    ``curves``: columns label, population, size (percent of the control mean or of the hazard), probability.
    No curves (nothing estimable): a figure that says so."""
    if curves.empty:
        plot_not_estimable(paths, title, ["No impact is estimable."])
        return
    fig, ax = plt.subplots(figsize=(7.5, 4.4))
    several = curves["population"].nunique() > 1
    for (label, pop), g in curves.groupby(["label", "population"], sort=False):
        ax.plot(g["size"], 100 * g["probability"], label=f"{label}, {POP_LABELS.get(pop, pop)}" if several else label)
    ax.set_xlabel("Reduction of at least this size, percent")
    ax.set_ylabel("Posterior probability, percent")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(frameon=False, fontsize=7.5)
    ax.set_title(title, fontsize=10, loc="left")
    fig.tight_layout()
    fig.text(0.01, -0.02, SOURCE + ". Flat prior: posterior approximately normal(estimate, SE).", fontsize=7.5,
             color="#555")
    _save(fig, paths)
