# Reference values for tests/test_nested_lmm.py::test_zero_organization_variance_matches_lmer and
# tests/test_nested_glmm.py::test_zero_organization_variance_matches_glmer: lme4's lmer (REML and ML,
# precision weights) and glmer (binomial, Laplace) on data simulated with NO organization effect (true
# organization variance 0), where the estimates sit on the boundary (theta_org = 0). Simulates the
# data (fixed seed), writes tests/data/lmm_boundary.csv, tests/data/lmm_boundary_reference.csv and
# tests/data/glmm_boundary_reference.csv.
# Run from the repository root: Rscript benchmarks/r/lmer_boundary_reference.R
library(lme4)
set.seed(20261130)
n_org <- 40; n_bene <- 600
org_of <- sample(seq_len(n_org), n_bene, replace = TRUE)
years <- sample(1:5, n_bene, replace = TRUE)
bene <- rep(seq_len(n_bene), years)
org <- org_of[bene]
mh <- org %% 2
year <- unlist(lapply(years, seq_len))
w <- sample(1:12, length(bene), replace = TRUE, prob = c(rep(1, 11), 20)) / 12  # share of the year observed
x <- rnorm(length(bene))
# no organization effect: beneficiary intercepts (SD 1), residual SD 1.5 / sqrt(w)
y <- 1 + 0.3 * mh + 0.5 * x - 0.1 * year + rnorm(n_bene, 0, 1)[bene] + rnorm(length(bene), 0, 1.5) / sqrt(w)
# binary outcome, also without an organization effect (beneficiary SD 0.8)
yb <- rbinom(length(bene), 1, plogis(-0.6 + 0.3 * mh + 0.5 * x + rnorm(n_bene, 0, 0.8)[bene]))
d <- data.frame(y = y, yb = yb, x = x, mh = mh, year = year, w = w, org = org, bene = bene)
write.csv(d, "tests/data/lmm_boundary.csv", row.names = FALSE)
ctl <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhobeg = 0.2, rhoend = 1e-12))
rows <- list()
for (reml in c(TRUE, FALSE)) {
  f <- lmer(y ~ x + mh + year + (1 | org) + (1 | bene), data = d, weights = w, REML = reml, control = ctl)
  stopifnot(getME(f, "theta")[["org.(Intercept)"]] == 0)  # the estimate is on the boundary
  vc <- as.data.frame(VarCorr(f))
  case <- if (reml) "REML" else "ML"
  rows[[length(rows) + 1]] <- rbind(
    data.frame(case = case, quantity = "fixef", term = names(fixef(f)), value = fixef(f)),
    data.frame(case = case, quantity = "se", term = names(fixef(f)), value = sqrt(diag(as.matrix(vcov(f))))),
    data.frame(case = case, quantity = "vc", term = c("org", "bene", "residual"),
               value = c(vc$vcov[vc$grp == "org"], vc$vcov[vc$grp == "bene"], vc$vcov[vc$grp == "Residual"])),
    data.frame(case = case, quantity = "loglik", term = "", value = as.numeric(logLik(f))))
}
out <- do.call(rbind, rows)
out$value <- sprintf("%.12g", out$value)
writeLines(sprintf("# R %s, lme4 %s; bobyqa rhoend 1e-12; Rscript benchmarks/r/lmer_boundary_reference.R",
                   paste(R.version$major, R.version$minor, sep = "."), packageVersion("lme4")),
           "tests/data/lmm_boundary_reference.csv")
suppressWarnings(write.table(out, "tests/data/lmm_boundary_reference.csv", sep = ",", row.names = FALSE,
                             append = TRUE, quote = TRUE))

# glmer with tight tolerances (as benchmarks/r/glmer_reference.R)
ctl <- glmerControl(optimizer = "bobyqa", optCtrl = list(rhobeg = 0.1, rhoend = 1e-10, maxfun = 1e5),
                    tolPwrss = 1e-12)
f <- glmer(yb ~ x + mh + year + (1 | org) + (1 | bene), data = d, family = binomial, nAGQ = 1, control = ctl)
stopifnot(getME(f, "theta")[["org.(Intercept)"]] < 1e-6)  # bobyqa stops within 1e-7 of the bound here
vc <- as.data.frame(VarCorr(f))
b <- fixef(f)
out <- rbind(
  data.frame(quantity = "fixef", term = names(b), value = unname(b)),
  data.frame(quantity = "se", term = names(b), value = sqrt(diag(as.matrix(vcov(f))))),
  data.frame(quantity = "se_conditional", term = names(b), value = sqrt(diag(as.matrix(vcov(f, use.hessian = FALSE))))),
  data.frame(quantity = "vc", term = c("org", "bene"), value = c(vc$vcov[vc$grp == "org"], vc$vcov[vc$grp == "bene"])),
  data.frame(quantity = "loglik", term = "", value = as.numeric(logLik(f))))
out$value <- sprintf("%.12g", out$value)
writeLines(sprintf("# R %s, lme4 %s; glmer, bobyqa rhoend 1e-10, tolPwrss 1e-12; Rscript benchmarks/r/lmer_boundary_reference.R",
                   paste(R.version$major, R.version$minor, sep = "."), packageVersion("lme4")),
           "tests/data/glmm_boundary_reference.csv")
suppressWarnings(write.table(out, "tests/data/glmm_boundary_reference.csv", sep = ",", row.names = FALSE,
                             append = TRUE, quote = TRUE))
