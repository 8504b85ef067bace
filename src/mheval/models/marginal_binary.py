"""Population-averaged binomial regression with CR2 cluster-robust variance (the binary impacts' default).

Why it exists: the multilevel binomial fit (:func:`mheval.models.nested_glmm.fit_nested_glmm`) has only
a model-based covariance; on synthetic trials its average marginal effect's SE was 0.82 (47
organizations) and 0.90 (~307) of the empirical SD (benchmarks/results/calibration_trials.md).
clubSandwich has no CR2 for glmer, but it has one for glm. So the binary impacts' default is the
marginal model: the same formula, link and offset as a GLM (GEE with an independence working
correlation), its coefficients' covariance the CR2 sandwich clustered on organizations, and t
references with Bell-McCaffrey (Satterthwaite) degrees of freedom.

What is computed. clubSandwich 0.5.8's ``vcovCR(glm(...), cluster, type = "CR2")`` writes a glm as a weighted regression on the response scale, design D X
(D = diag(dmu/deta)), residuals y - mu, weights W = diag(w / V(mu)), target variance diag(V(mu) / w)
(``model_matrix.glm``, ``residuals_CS.glm``, ``weightMatrix.glm``, ``targetVariance.glm``), all at
the fitted values. Whitened by the diagonal target this is the weighted least-squares CR2 at the
IRLS working weights w (dmu/deta)^2 / V(mu) and working residuals (y - mu) / (dmu/deta): the
diagonal working covariance of :func:`mheval.models.cluster_robust.cr2` with no random effects,
in its whitened form. So :func:`fit_marginal_binary` fits the GLM and hands those weights and
residuals to ``cr2``: O(n p^2), per organization p x p Gram matrices. One difference: clubSandwich
takes the adjustment's symmetric square root on the response scale, which is not invariant to that
scale and needs an n_j x n_j eigen-decomposition per organization (up to ~25,000 rows at scale 1.0);
the whitened root is invariant and also exactly unbiased under the working model. The two give SEs
about 1% apart on the test data; the reference for 1e-6 agreement is clubSandwich's CR2 of the
whitened final IRLS regression (an unweighted ``lm``), see docs/small_sample_inference.md.

The fit is Fisher scoring by the normal equations (``nested_glmm.glm_fit``, the mixed model's
starting values, run to 1e-10): statsmodels' GLM took 10.5 CPU s and 1 GB more at scale 0.25
(233,627 rows, 9 IRLS iterations with QR), over the fit_binary job's budget. Checked against
clubSandwich to 1e-6 (tests/test_marginal_binary.py, benchmarks/r/clubsandwich_glm_reference.R).

The average marginal effect (:func:`mheval.models.nested_glmm.marginal_effect`) of a marginal model
is population-averaged by construction (no random intercept to integrate over); its delta-method
SE uses the CR2 covariance, and its degrees of freedom are the Satterthwaite df of the gradient
contrast g'beta (clubSandwich's ``linear_contrast(..., test = "Satterthwaite")``; for a one-row
constraint its ``Wald_test(..., test = "HTZ")`` gives the same df, checked in the R script).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mheval.models.cluster_robust import ClusterRobust, cr2
from mheval.models.nested_glmm import LINKS, binary_outcome, glm_fit, offset_values
from mheval.models.nesting import model_matrices
from mheval.models.result import ModelResult

_TOL = 1e-10  # Fisher scoring stops when no coefficient moves by this much (the R reference fits: epsilon 1e-14)
_MAXIT = 100


@dataclass
class MarginalBinaryResult(ModelResult):
    """Fit of :func:`fit_marginal_binary`: coefficients, cluster-robust (``cov_type`` CR2 or CR3)
    ``bse``/``cov_params()`` with the ``df`` of each coefficient's t reference, the GLM's model-based ``bse_model``, the
    :class:`~mheval.models.cluster_robust.ClusterRobust` in ``robust`` (``robust.contrast(c)``: the
    variance and df of c'beta; with CR3 also CR2's in ``robust_cr2``, :meth:`with_cr2`), and the fields :func:`mheval.models.nested_glmm.marginal_effect`
    reads (``spec``; ``variance_components`` all 0: no random intercepts)."""

    params: pd.Series
    bse: pd.Series
    df: pd.Series
    bse_model: pd.Series
    llf: float
    nobs: int
    n_groups: dict
    converged: bool
    _cov: pd.DataFrame
    robust: ClusterRobust = field(repr=False)
    spec: dict = field(repr=False)
    robust_cr2: ClusterRobust | None = field(default=None, repr=False)  # with CR3: CR2's, for comparison
    variance_components: dict = field(default_factory=lambda: {"org": 0.0, "bene": 0.0})
    cov_type: str = "CR2"

    def cov_params(self) -> pd.DataFrame:
        """Cluster-robust (``cov_type``) covariance of the coefficients."""
        return self._cov

    def with_cr2(self) -> "MarginalBinaryResult":
        """This fit with CR2's covariance and Satterthwaite df (a CR3 fit keeps them in ``robust_cr2``)."""
        import dataclasses

        if self.cov_type == "CR2":
            return self
        r = self.robust_cr2
        names = list(self.params.index)
        return dataclasses.replace(self, bse=pd.Series(np.sqrt(np.diag(r.vcov)), index=names),
                                   df=pd.Series(r.df(), index=names), _cov=pd.DataFrame(r.vcov, index=names, columns=names),
                                   robust=r, robust_cr2=None, cov_type="CR2")


def fit_marginal_binary(data: pd.DataFrame, formula: str, org: str, link: str = "logit",
                        offset: str | None = None, adjustment: str = "CR2") -> MarginalBinaryResult:
    """Fit g(P(y = 1)) = X beta [+ offset] as a binomial GLM (Fisher scoring) and its CR2
    covariance clustered on the column ``org`` (module docstring).

    formula : patsy formula with a 0/1 (or boolean) outcome; link : "logit" or "cloglog";
    offset : optional column added to the linear predictor (e.g. log exposure with the cloglog
    link). Rows with a missing value in the model's columns are dropped (patsy's default), as in
    :func:`~mheval.models.nested_glmm.fit_nested_glmm`, whose ``spec`` the result shares so that
    :func:`~mheval.models.nested_glmm.marginal_effect` takes either fit. ``adjustment``: "CR2"
    (Satterthwaite df) or "CR3" (the jackknife-type adjustment, t(G - 1) references; see
    :class:`mheval.models.cluster_robust.ClusterRobust`): the result's ``cov_type``.
    """
    if link not in LINKS:
        raise ValueError(f"link must be one of {sorted(LINKS)}, not {link!r}")
    lk = LINKS[link]
    y_df, X_df = model_matrices(formula, data)
    y = binary_outcome(y_df)
    rows = data.loc[X_df.index]
    off = offset_values(rows, offset)
    X = np.ascontiguousarray(X_df.to_numpy(float))
    if np.linalg.matrix_rank(X.T @ X) < X.shape[1]:
        raise ValueError("the fixed-effects design is rank deficient; drop collinear terms")
    if rows[org].isna().any():
        raise ValueError(f"cluster column '{org}' has {int(rows[org].isna().sum())} missing value(s) of {len(rows)}")
    beta = glm_fit(X, y, np.ones(len(y)), iters=_MAXIT, link=lk, offset=off, tol=_TOL)
    eta = X @ beta + off
    mu, dmu = lk.mean(eta), lk.dmean(eta)
    # IRLS working weights and residuals at the fitted values (clubSandwich's glm pieces, whitened)
    w_work = dmu * dmu / (mu * (1 - mu))
    z = (y - mu) / dmu
    info = X.T @ (w_work[:, None] * X)
    score = X.T @ (w_work * z)
    converged = bool(np.abs(np.linalg.solve(info, score)).max() < 1e-8)  # a further Fisher step would not move beta
    bse_model = np.sqrt(np.diag(np.linalg.inv(info)))
    llf = float(np.sum(np.where(y > 0, np.log(mu), np.log1p(-mu))))
    robust = cr2(X, z, rows[org].to_numpy(), w=w_work, form="whitened", adjustment=adjustment)
    comparison = robust.readjusted("CR2") if adjustment == "CR3" else None  # the same Gram matrices
    names = list(X_df.columns)
    return MarginalBinaryResult(
        params=pd.Series(beta, index=names), bse=pd.Series(np.sqrt(np.diag(robust.vcov)), index=names),
        df=pd.Series(robust.df(), index=names), bse_model=pd.Series(bse_model, index=names), llf=llf,
        nobs=len(y), n_groups={"org": robust.n_clusters, "bene": 0}, converged=converged,
        _cov=pd.DataFrame(robust.vcov, index=names, columns=names), robust=robust,
        spec={"formula": formula, "org": org, "bene": None, "weights": None, "design_info": X_df.design_info,
              "link": link, "offset": offset}, cov_type=adjustment, robust_cr2=comparison)
