# Reference values for tests/test_nested_lmm.py: lme4's lmer with nested random intercepts and
# precision weights on tests/data/lmm_nested_weighted.csv (600 beneficiaries in 30 organizations).
# Run: Rscript benchmarks/r/lmer_reference.R   (Debian: apt-get install r-base-core r-cran-lme4)
library(lme4)
d <- read.csv("tests/data/lmm_nested_weighted.csv")
ctl <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhobeg = 0.2, rhoend = 1e-10))
for (reml in c(TRUE, FALSE)) {
  f <- lmer(y ~ x + mh + (1 | org) + (1 | bene), data = d, weights = w, REML = reml, control = ctl)
  vc <- as.data.frame(VarCorr(f))
  cat("REML", reml, "\n")
  cat("fixef", sprintf("%.10f", fixef(f)), "\n")
  cat("se", sprintf("%.10f", sqrt(diag(as.matrix(vcov(f))))), "\n")
  cat("vc org bene residual", sprintf("%.10f", c(vc$vcov[vc$grp == "org"], vc$vcov[vc$grp == "bene"], vc$vcov[vc$grp == "Residual"])), "\n")
  cat("loglik", sprintf("%.8f", as.numeric(logLik(f))), "\n")
}
cat("R", R.version.string, "lme4", as.character(packageVersion("lme4")), "\n")
