# Reference values for tests/test_ph_test.py and tests/test_adjusted_incidence.py:
# simulates a small cluster-randomized trial (tests/data/ph_incidence_sim.csv) and writes
#  - cox.zph(fit, transform = "km", terms = TRUE) tables       -> tests/data/coxzph_reference.csv
#  - survSplit + coxph by follow-up year with cluster() SE      -> tests/data/by_year_reference.csv
#  - survfit(coxph, newdata) curves averaged over the sample    -> tests/data/adjusted_incidence_reference.csv
# Run from the project root: Rscript benchmarks/r/ph_incidence_reference.R   (R survival 3.5.3)
library(survival)
set.seed(7)
n_org <- 40; n <- 2400
org <- sample(1:n_org, n, replace = TRUE)
MH <- as.integer(org %% 2 == 0)                      # arm assigned by organization
u <- rgamma(n_org, 4, 4)[org]
x1 <- rnorm(n); x2 <- rbinom(n, 1, 0.4); grp <- sample(c("a", "b", "c"), n, replace = TRUE)
lp <- 0.4 * x1 + 0.3 * x2 + 0.25 * (grp == "b") - 0.2 * (grp == "c")
# non-proportional treatment effect: HR 0.6 in year 1, 1 afterwards (piecewise exponential)
h0 <- 0.12 * u * exp(lp)
e1 <- rexp(n, h0 * ifelse(MH == 1, 0.6, 1))
t <- ifelse(e1 <= 1, e1, 1 + rexp(n, h0))
t <- ceiling(t * 365.25) / 365.25                    # daily resolution: some ties
cens <- ceiling(runif(n, 3, 6) * 365.25) / 365.25
T <- pmin(t, cens); E <- as.integer(t <= cens)
d <- data.frame(ORG_ID = sprintf("ORG%02d", org), MH, x1, x2, grp, T, E)
write.csv(d, "tests/data/ph_incidence_sim.csv", row.names = FALSE)

# cox.zph (right-censored, with a 3-level factor as one 2-df term; Efron and Breslow)
zph <- list()
for (ties in c("efron", "breslow")) {
  f <- coxph(Surv(T, E) ~ MH + x1 + x2 + factor(grp), data = d, ties = ties)
  z <- cox.zph(f, transform = "km", terms = TRUE)$table
  zph[[ties]] <- data.frame(case = paste0("sim_", ties), term = rownames(z), chisq = z[, 1], df = z[, 2], p = z[, 3])
}
# counting-process rows with case weights (tests/data/cox_weights_counting.csv)
cp <- read.csv("tests/data/cox_weights_counting.csv"); cp$W <- as.numeric(cp$W)  # cox.zph needs double weights
f <- coxph(Surv(start, stop, E) ~ a + b + c, data = cp, weights = W)
z <- cox.zph(f, transform = "km", terms = TRUE)$table
zph[["cp"]] <- data.frame(case = "counting_weights_efron", term = rownames(z), chisq = z[, 1], df = z[, 2], p = z[, 3])
zz <- do.call(rbind, zph)
write.csv(zz, "tests/data/coxzph_reference.csv", row.names = FALSE)

# treatment effect by follow-up year
s <- survSplit(Surv(T, E) ~ ., data = d, cut = 1:4, episode = "year")
for (k in 1:5) s[[paste0("MH", k)]] <- s$MH * (s$year == k)
s$grpb <- as.integer(s$grp == "b"); s$grpc <- as.integer(s$grp == "c")
fy <- coxph(Surv(tstart, T, E) ~ MH1 + MH2 + MH3 + MH4 + MH5 + x1 + x2 + grpb + grpc + cluster(ORG_ID), data = s)
by <- data.frame(year = 1:5, log_hr = coef(fy)[1:5], se = sqrt(diag(vcov(fy)))[1:5],
                 naive_se = sqrt(diag(fy$naive.var))[1:5], n_rows = nrow(s))
write.csv(by, "tests/data/by_year_reference.csv", row.names = FALSE)

# adjusted (standardized) cumulative incidence: every subject's predicted curve under MH = 1 and
# MH = 0, averaged; Breslow (ctype 1) and Efron (ctype 2) baseline hazards
d$grpb <- as.integer(d$grp == "b"); d$grpc <- as.integer(d$grp == "c")
f <- coxph(Surv(T, E) ~ MH + x1 + x2 + grpb + grpc, data = d)
grid <- c(0.5, 1, 1.5, 2, 2.5, 3, 4, 5)
ai <- list()
for (ctype in 1:2) for (arm in 0:1) {
  nd <- d; nd$MH <- arm
  sf <- survfit(f, newdata = nd, ctype = ctype)
  S <- summary(sf, times = grid, extend = TRUE)$surv        # length(grid) x n
  ai[[length(ai) + 1]] <- data.frame(ctype = ctype, MH = arm, time = grid, cuminc = 1 - rowMeans(S))
}
# no covariates, one arm: 1 - exp(-Nelson-Aalen)
d0 <- d[d$MH == 1, ]
na <- survfit(Surv(T, E) ~ 1, data = d0, ctype = 1, stype = 2)
ai[[length(ai) + 1]] <- data.frame(ctype = 0, MH = 1, time = grid, cuminc = 1 - summary(na, times = grid, extend = TRUE)$surv)
write.csv(do.call(rbind, ai), "tests/data/adjusted_incidence_reference.csv", row.names = FALSE)
cat("coef", coef(f), "\n")
cat("R", R.version.string, "survival", as.character(packageVersion("survival")), "\n")
