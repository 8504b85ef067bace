# Reference values for the CR2 and CR3 cluster-robust variances of the nested LMM
# (src/mheval/models/cluster_robust.py; tests/test_cluster_robust.py): clubSandwich's vcovCR(type = "CR2", "CR3"),
# coef_test(test = "Satterthwaite") and linear_contrast() on lmer fits, clustered on the organization.
# Writes tests/data/cr2_eq1.csv (simulated Equation 1-like data: 24 unequal organizations, beneficiaries
# with 1-4 follow-up years) and tests/data/clubsandwich_reference.csv.
# clubSandwich does not support lmer prior weights, so the fits are unweighted.
# Run from the project root: Rscript benchmarks/r/clubsandwich_reference.R
# (Debian: r-cran-lme4, r-cran-clubsandwich)
library(lme4)
library(clubSandwich)
set.seed(20261130)
G <- 24
nb <- pmax(3, round(rlnorm(G, log(25), 0.9)))
org <- rep(seq_len(G), nb)
mh <- as.integer(org %% 2 == 0)
nyr <- sample(1:4, length(org), replace = TRUE, prob = c(0.2, 0.2, 0.2, 0.4))
bene <- rep(seq_along(org), nyr)
year <- unlist(lapply(nyr, seq_len))
o <- org[bene]
x <- rnorm(length(bene)) + 0.3 * rnorm(G)[o]
y <- 10 + year + (-0.5 + 0.2 * year) * mh[bene] + 0.8 * x + rnorm(G, 0, 1.2)[o] + rnorm(length(org), 0, 2)[bene] +
  rnorm(length(bene), 0, 3) * (1 + 0.5 * mh[bene])   # heteroscedastic: the working model is wrong
d <- data.frame(org = o, bene, year, mh = mh[bene], x, y)
write.csv(d, "tests/data/cr2_eq1.csv", row.names = FALSE)
d2 <- read.csv("tests/data/lmm_nested_weighted.csv")
ctl <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhobeg = 0.2, rhoend = 1e-12))
fits <- list(
  eq1 = lmer(y ~ 0 + factor(year) + factor(year):mh + x + (1 | org) + (1 | bene), data = d, control = ctl),
  nested = lmer(y ~ x + mh + (1 | org) + (1 | bene), data = d2, control = ctl),
  org_only = lmer(y ~ x + mh + (1 | org), data = d2[!duplicated(d2$bene), ], control = ctl))
out <- list()
put <- function(model, quantity, index, value) out[[length(out) + 1]] <<- data.frame(model, quantity, index, value)
for (m in names(fits)) {
  f <- fits[[m]]
  vc <- as.data.frame(VarCorr(f))
  s2 <- sigma(f)^2
  put(m, "ratio_org", 0, vc$vcov[vc$grp == "org"] / s2)
  put(m, "ratio_bene", 0, if (any(vc$grp == "bene")) vc$vcov[vc$grp == "bene"] / s2 else 0)
  p <- length(fixef(f))
  put(m, "fixef", 0:(p - 1), fixef(f))
  V <- vcovCR(f, type = "CR2")
  put(m, "vcov_cr2", 0:(p * p - 1), as.vector(as.matrix(V)))   # column-major
  ct <- coef_test(f, vcov = V, test = "Satterthwaite")
  put(m, "df_satt", 0:(p - 1), ct$df_Satt)
  put(m, "se_model", 0:(p - 1), sqrt(diag(as.matrix(vcov(f)))))
  # average of the interaction terms (eq1: yearly impacts) or of all slopes
  cn <- names(fixef(f))
  cc <- if (m == "eq1") as.numeric(grepl(":mh", cn)) / sum(grepl(":mh", cn)) else as.numeric(cn != "(Intercept)") / (p - 1)
  lc <- linear_contrast(f, vcov = V, contrasts = matrix(cc, nrow = 1), test = "Satterthwaite")
  put(m, "contrast", 0:(p - 1), cc)
  put(m, "contrast_se", 0, lc$SE)
  put(m, "contrast_df", 0, lc$df)
  # CR3 (the jackknife-type adjustment), the same quantities
  V3 <- vcovCR(f, type = "CR3")
  put(m, "vcov_cr3", 0:(p * p - 1), as.vector(as.matrix(V3)))
  put(m, "df_satt_cr3", 0:(p - 1), coef_test(f, vcov = V3, test = "Satterthwaite")$df_Satt)
  lc3 <- linear_contrast(f, vcov = V3, contrasts = matrix(cc, nrow = 1), test = "Satterthwaite")
  put(m, "contrast_se_cr3", 0, lc3$SE)
  put(m, "contrast_df_cr3", 0, lc3$df)
}
write.csv(do.call(rbind, out), "tests/data/clubsandwich_reference.csv", row.names = FALSE)
cat(sprintf("R %s, lme4 %s, clubSandwich %s\n", getRversion(), packageVersion("lme4"), packageVersion("clubSandwich")))
