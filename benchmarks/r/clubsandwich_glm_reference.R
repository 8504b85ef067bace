# Reference values for the binary impacts' CR2 variance (src/mheval/models/marginal_binary.py;
# tests/test_marginal_binary.py), two variants per GLM:
# - "glm": clubSandwich's own vcovCR(glm, cluster, type = "CR2"): response scale, design (dmu/deta) X,
#   residuals y - mu, and the symmetric root of its adjustment on that scale;
# - "whitened": clubSandwich's vcovCR(lm, cluster, type = "CR2") of the GLM's final IRLS step written as an
#   unweighted regression on whitened working data (sqrt(w) z on sqrt(w) X, w the working weights, z the
#   working response): the Bell-McCaffrey adjustment the package computes (invariant to the scale of the
#   response, and O(n p^2); the "glm" root needs n_j x n_j matrices per organization).
# For each: the CR2 covariance, coef_test(test = "Satterthwaite") df, and the average marginal effect's
# delta-method SE with the Satterthwaite df of its gradient contrast (linear_contrast(test = "Satterthwaite");
# Wald_test(test = "HTZ") gives the same df for one row, stored to show it).
# Writes tests/data/glm_cr2.csv (simulated Equation 1-like binary data: 18 unequal organizations, beneficiaries
# with 1-3 follow-up years, a share of the year observed) and tests/data/clubsandwich_glm_reference.csv.
# Run from the project root: Rscript benchmarks/r/clubsandwich_glm_reference.R (Debian: r-cran-clubsandwich)
library(clubSandwich)
set.seed(20261201)
G <- 18
nb <- pmax(4, round(rlnorm(G, log(30), 0.9)))
org <- rep(seq_len(G), nb)
mh <- as.integer(org %% 2 == 0)
nyr <- sample(1:3, length(org), replace = TRUE, prob = c(0.2, 0.3, 0.5))
bene <- rep(seq_along(org), nyr)
year <- unlist(lapply(nyr, seq_len))
o <- org[bene]
x <- rnorm(length(bene)) + 0.4 * rnorm(G)[o]
expo <- ifelse(runif(length(bene)) < 0.15, runif(length(bene), 0.05, 1), 1)
eta <- -1.6 + 0.1 * year + (-0.25 + 0.05 * year) * mh[bene] + 0.5 * x + rnorm(G, 0, 0.4)[o] + rnorm(length(org), 0, 0.5)[bene]
y <- rbinom(length(bene), 1, 1 - exp(-expo * exp(eta)))
d <- data.frame(org = o, bene, year, mh = mh[bene], x, expo, y)
write.csv(d, "tests/data/glm_cr2.csv", row.names = FALSE)
ctl <- glm.control(epsilon = 1e-14, maxit = 100)
fits <- list(
  cloglog = glm(y ~ 0 + factor(year) + factor(year):mh + x, offset = log(expo),
                family = binomial(link = "cloglog"), data = d, control = ctl),
  logit = glm(y ~ mh + x, family = binomial(link = "logit"), data = d[!duplicated(d$bene), ], control = ctl))
out <- list()
put <- function(model, quantity, index, value, name = "") out[[length(out) + 1]] <<- data.frame(model, quantity, index, name, value)
for (m in names(fits)) {
  f <- fits[[m]]
  dd <- f$data[rownames(model.frame(f)), ]
  b <- coef(f)
  p <- length(b)
  put(m, "coef", 0:(p - 1), b, names(b))
  put(m, "se_model", 0:(p - 1), sqrt(diag(vcov(f))))
  X <- model.matrix(f)
  eta <- as.vector(X %*% b) + (if (is.null(f$offset)) 0 else f$offset)
  mu <- f$family$linkinv(eta)
  de <- f$family$mu.eta(eta)
  w <- de^2 / f$family$variance(mu)
  ys <- sqrt(w) * (X %*% b + (dd$y - mu) / de)
  Xs <- sqrt(w) * X
  lw <- lm(ys ~ 0 + Xs)
  put(m, "coef_whitened_minus_glm", 0:(p - 1), coef(lw) - b)
  fits_v <- list(glm = f, whitened = lw)
  V_all <- list()
  for (v in names(fits_v)) {
    V_all[[v]] <- vcovCR(fits_v[[v]], cluster = dd$org, type = "CR2")
    put(m, paste0("vcov_cr2_", v), 0:(p * p - 1), as.vector(as.matrix(V_all[[v]])))   # column-major
    put(m, paste0("df_satt_", v), 0:(p - 1), coef_test(fits_v[[v]], vcov = V_all[[v]], test = "Satterthwaite")$df_Satt)
  }
  # average marginal effect for a full year of exposure (offset 0): mean over rows of P(mh = 1) - P(mh = 0),
  # by year (cloglog) and the simple mean of the yearly effects; gradient by the chain rule
  X1 <- model.matrix(f$formula, transform(dd, mh = 1))
  X0 <- model.matrix(f$formula, transform(dd, mh = 0))
  linv <- f$family$linkinv
  dmu <- f$family$mu.eta
  groups <- if (m == "cloglog") split(seq_len(nrow(dd)), dd$year) else list(all = seq_len(nrow(dd)))
  ames <- sapply(groups, function(r) mean(linv(X1[r, ] %*% b) - linv(X0[r, ] %*% b)))
  grads <- sapply(groups, function(r) colMeans(X1[r, , drop = FALSE] * as.vector(dmu(X1[r, ] %*% b))) -
                    colMeans(X0[r, , drop = FALSE] * as.vector(dmu(X0[r, ] %*% b))))
  grads <- cbind(grads)
  if (m == "cloglog") {
    ames <- c(ames, mean(ames))
    grads <- cbind(grads, rowMeans(grads))
  }
  for (k in seq_along(ames)) {
    g <- matrix(grads[, k], nrow = 1)
    put(m, "ame", k - 1, ames[k])
    put(m, "ame_se_model", k - 1, sqrt(g %*% vcov(f) %*% t(g)))
    for (v in names(fits_v)) {
      lc <- linear_contrast(fits_v[[v]], vcov = V_all[[v]], contrasts = g, test = "Satterthwaite")
      wt <- Wald_test(fits_v[[v]], constraints = g, vcov = V_all[[v]], test = "HTZ")
      put(m, paste0("ame_se_", v), k - 1, lc$SE)
      put(m, paste0("ame_df_", v), k - 1, lc$df)
      put(m, paste0("ame_df_htz_", v), k - 1, wt$df_denom)
    }
  }
}
write.csv(do.call(rbind, out), "tests/data/clubsandwich_glm_reference.csv", row.names = FALSE)
cat(sprintf("R %s, clubSandwich %s\n", getRversion(), packageVersion("clubSandwich")))
