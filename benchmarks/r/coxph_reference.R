# Reference values for tests/test_cox_engine.py: R survival's coxph with cluster-robust errors
# on tests/data/cox_clustered_ties.csv (3,000 subjects, 40 clusters, heavily tied times).
# Run: Rscript benchmarks/r/coxph_reference.R   (Debian: apt-get install r-base-core r-cran-survival)
library(survival)
d <- read.csv("tests/data/cox_clustered_ties.csv")
for (ties in c("efron", "breslow")) {
  f <- coxph(Surv(T, E) ~ a + b + c + cluster(G), data = d, ties = ties)
  cat(ties, "coef", sprintf("%.10f", coef(f)), "\n")
  cat(ties, "robust_se", sprintf("%.10f", sqrt(diag(vcov(f)))), "\n")
  cat(ties, "naive_se", sprintf("%.10f", sqrt(diag(f$naive.var))), "\n")
  cat(ties, "loglik", sprintf("%.8f", f$loglik[2]), "\n")
}
cat("R", R.version.string, "survival", as.character(packageVersion("survival")), "\n")
