# Reference values for tests/test_nested_glmm.py: lme4's glmer (binomial, Laplace, nAGQ = 1) with an
# organization intercept, and with beneficiaries nested in organizations (unweighted and with
# integer prior weights). Simulates the data (fixed seed), writes tests/data/glmm_org.csv and
# tests/data/glmm_nested.csv, and the reference values to tests/data/glmm_reference.csv.
# Run from the repository root: Rscript benchmarks/r/glmer_reference.R   (R 4.2.2, lme4 1.1.31)
library(lme4)
set.seed(20261123)
# case 1: 60 organizations, 15-45 rows each, organization intercept only
n_org <- 60
size <- sample(15:45, n_org, replace = TRUE)
org <- rep(seq_len(n_org), size)
mh <- rep(rbinom(n_org, 1, 0.5), size)
x1 <- rnorm(length(org)); x2 <- rbinom(length(org), 1, 0.4)
eta <- -0.8 + 0.5 * mh + 0.6 * x1 - 0.4 * x2 + rep(rnorm(n_org, 0, 0.7), size)
d1 <- data.frame(y = rbinom(length(org), 1, plogis(eta)), x1 = x1, x2 = x2, mh = mh, org = org)
write.csv(d1, "tests/data/glmm_org.csv", row.names = FALSE)
# case 2: 40 organizations, 500 beneficiaries with 1-5 years each, nested intercepts
n_org <- 40; n_bene <- 500
org_of <- sample(seq_len(n_org), n_bene, replace = TRUE)
years <- sample(1:5, n_bene, replace = TRUE)
bene <- rep(seq_len(n_bene), years)
org <- org_of[bene]
mh <- (org %% 2)
year <- unlist(lapply(years, seq_len))
x1 <- rnorm(length(bene)); x2 <- rbinom(length(bene), 1, 0.3)
eta <- -1 + 0.4 * mh + 0.5 * x1 + 0.3 * x2 - 0.1 * year + rnorm(n_org, 0, 0.5)[org] + rnorm(n_bene, 0, 1.0)[bene]
d2 <- data.frame(y = rbinom(length(bene), 1, plogis(eta)), x1 = x1, x2 = x2, mh = mh, year = year,
                 w = sample(1:3, length(bene), replace = TRUE), org = org, bene = bene)
write.csv(d2, "tests/data/glmm_nested.csv", row.names = FALSE)

# tight tolerances: with the default tolPwrss = 1e-7 the conditional modes, hence the deviance and its
# finite-difference Hessian, are inexact enough to move glmer's SEs by up to 1e-3 (relative) and its
# logLik by 1e-4; with 1e-12 glmer and fit_nested_glmm agree to about 1e-6
ctl <- glmerControl(optimizer = "bobyqa", optCtrl = list(rhobeg = 0.1, rhoend = 1e-10, maxfun = 1e5),
                    tolPwrss = 1e-12)
fits <- list(
  org = glmer(y ~ x1 + x2 + mh + (1 | org), data = d1, family = binomial, nAGQ = 1, control = ctl),
  nested = glmer(y ~ x1 + x2 + mh + year + (1 | org) + (1 | bene), data = d2, family = binomial, nAGQ = 1,
                 control = ctl),
  nested_weighted = glmer(y ~ x1 + x2 + mh + year + (1 | org) + (1 | bene), data = d2, weights = w,
                          family = binomial, nAGQ = 1, control = ctl))
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
write.csv(format(out, digits = 12), "tests/data/glmm_reference.csv", row.names = FALSE, quote = FALSE)
cat("R", R.version.string, "lme4", as.character(packageVersion("lme4")), "\n")
print(out)
