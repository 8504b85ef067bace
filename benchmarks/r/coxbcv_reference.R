# Reference values for the marginal Cox bias-corrected sandwich variances
# (src/mheval/models/cox_small_sample.py; tests/test_cox_small_sample.py; benchmarks/bench_small_sample.py).
# Simulates tests/data/coxbcv_sim.csv (clustered survival with few, unequal clusters: one data set
# with tied times, one without) and writes CoxBcv's variances to tests/data/coxbcv_reference.csv.
# CoxBcv is not on Debian: install it from its CRAN source (github cran/CoxBcv) into a library
# on R_LIBS, e.g. R CMD INSTALL -l /tmp/rlib CoxBcv; R_LIBS=/tmp/rlib Rscript benchmarks/r/coxbcv_reference.R
# Run from the project root.
library(survival)
library(CoxBcv)
set.seed(20261130)
sim <- function(G, ties) {
  m <- pmax(2, round(rlnorm(G, log(12), 0.9)))         # unequal cluster sizes
  ID <- rep(seq_len(G), m)
  n <- length(ID)
  u <- rgamma(G, 2, 2)[ID]                              # shared frailty: clustering
  a <- as.integer(ID %% 2 == 0)                         # cluster-level treatment
  b <- rnorm(n)
  c <- rbinom(n, 1, 0.3)
  t <- rexp(n, 0.1 * u * exp(-0.3 * a + 0.4 * b + 0.2 * c))
  cens <- runif(n, 2, 12)
  if (ties) { t <- ceiling(t); cens <- ceiling(cens) }
  data.frame(ID, a, b, c, Y = pmin(t, cens), Delta = as.integer(t <= cens))
}
ex <- data.frame(ID = c(1,1,2,2,3,3,4,4,5,5,6,6), a = c(0,0,0,0,0,0,1,1,1,1,1,1),
                 b = c(-19,6,-25,48,10,-25,15,22,17,-9,45,12), c = 0,
                 Y = c(11,19,43,100,7,100,100,62,52,1,7,6), Delta = c(1,1,1,0,1,0,0,1,1,1,1,1))
sets <- list(example = ex, ties = sim(20, TRUE), noties = sim(24, FALSE))
all <- do.call(rbind, lapply(names(sets), function(s) cbind(set = s, sets[[s]])))
write.csv(all, "tests/data/coxbcv_sim.csv", row.names = FALSE)
fns <- list(rob = CoxBcv.rob, kc = CoxBcv.kc, fg = CoxBcv.fg, md = CoxBcv.md, mbn = CoxBcv.mbn)
out <- list()
for (s in names(sets)) {
  d <- sets[[s]]
  specs <- if (s == "example") list(a = "a", ab = c("a", "b")) else list(a = "a", abc = c("a", "b", "c"))
  for (sp in names(specs)) {
    X <- as.matrix(d[, specs[[sp]], drop = FALSE])
    for (f in names(fns)) {
      r <- fns[[f]](d$Y, d$Delta, X, d$ID)$outbeta
      out[[length(out) + 1]] <- data.frame(set = s, covariates = sp, cov_type = f, index = seq_len(nrow(r)) - 1,
                                           coef = r[, 1], var = r[, 3])
    }
    fit <- coxph(Surv(Y, Delta) ~ X + cluster(ID), data = d)
    out[[length(out) + 1]] <- data.frame(set = s, covariates = sp, cov_type = "coxph_robust",
                                         index = seq_along(coef(fit)) - 1, coef = coef(fit), var = diag(vcov(fit)))
  }
}
res <- do.call(rbind, out)
write.csv(res, "tests/data/coxbcv_reference.csv", row.names = FALSE)
cat(sprintf("R %s, survival %s, CoxBcv %s\n", getRversion(), packageVersion("survival"), packageVersion("CoxBcv")))
