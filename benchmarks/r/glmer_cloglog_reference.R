# Reference values for tests/test_nested_glmm.py (complementary log-log link with a log-exposure
# offset): lme4's glmer(binomial(link = "cloglog"), offset = log(exposure), Laplace, nAGQ = 1) with
# beneficiaries nested in organizations. Simulates the data (fixed seed): partial years of exposure
# in (0, 1], P(y = 1) = 1 - exp(-exposure * exp(eta)). Writes tests/data/glmm_cloglog.csv and the
# reference values to tests/data/glmm_cloglog_reference.csv.
# Run from the repository root: Rscript benchmarks/r/glmer_cloglog_reference.R   (R 4.2.2, lme4 1.1.31)
library(lme4)
set.seed(20261130)
n_org <- 30; n_bene <- 400
org_of <- sample(seq_len(n_org), n_bene, replace = TRUE)
years <- sample(1:4, n_bene, replace = TRUE)
bene <- rep(seq_len(n_bene), years)
org <- org_of[bene]
mh <- (org %% 2)
year <- unlist(lapply(years, seq_len))
x1 <- rnorm(length(bene))
exposure <- ifelse(runif(length(bene)) < 0.3, round(runif(length(bene), 0.05, 1), 3), 1)
eta <- -1.2 + 0.3 * mh + 0.5 * x1 - 0.1 * year + rnorm(n_org, 0, 0.4)[org] + rnorm(n_bene, 0, 0.7)[bene]
y <- rbinom(length(bene), 1, 1 - exp(-exposure * exp(eta)))
d <- data.frame(y = y, x1 = x1, mh = mh, year = year, exposure = exposure, org = org, bene = bene)
write.csv(d, "tests/data/glmm_cloglog.csv", row.names = FALSE)
ctl <- glmerControl(optimizer = "bobyqa", optCtrl = list(rhobeg = 0.1, rhoend = 1e-10, maxfun = 1e5),
                    tolPwrss = 1e-12)
fits <- list(
  cloglog_nested = glmer(y ~ x1 + mh + year + (1 | org) + (1 | bene), data = d, offset = log(exposure),
                         family = binomial(link = "cloglog"), nAGQ = 1, control = ctl),
  cloglog_org = glmer(y ~ x1 + mh + year + (1 | org), data = d, offset = log(exposure),
                      family = binomial(link = "cloglog"), nAGQ = 1, control = ctl))
out <- NULL
for (case in names(fits)) {
  f <- fits[[case]]
  vc <- as.data.frame(VarCorr(f))
  b <- fixef(f)
  out <- rbind(out,
    data.frame(case = case, quantity = "fixef", term = names(b), value = unname(b)),
    data.frame(case = case, quantity = "se", term = names(b), value = sqrt(diag(as.matrix(vcov(f))))),
    data.frame(case = case, quantity = "se_conditional", term = names(b),
               value = sqrt(diag(as.matrix(vcov(f, use.hessian = FALSE))))),
    data.frame(case = case, quantity = "vc", term = c("org", "bene"),
               value = c(vc$vcov[vc$grp == "org"], if (any(vc$grp == "bene")) vc$vcov[vc$grp == "bene"] else 0)),
    data.frame(case = case, quantity = "loglik", term = "", value = as.numeric(logLik(f))))
}
write.csv(format(out, digits = 12), "tests/data/glmm_cloglog_reference.csv", row.names = FALSE, quote = FALSE)
cat("R", R.version.string, "lme4", as.character(packageVersion("lme4")), "\n")
print(out)
