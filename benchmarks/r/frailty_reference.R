# Reference values for tests/test_frailty_cox.py: R survival's shared gamma frailty Cox model,
#   coxph(Surv(time, status) ~ x + frailty(cluster))   (theta by the default "em" I-likelihood search)
# and with theta fixed, on R's classic `rats` (litter frailty) and `kidney` (patient frailty) data and
# on small simulated clustered data sets with tied times. Writes the data and R's results (coef,
# se(coef) = sqrt(diag(fit$var)), theta = last row of fit$history[[1]]$history, theta_next =
# fit$history[[1]]$theta, log-likelihoods, iteration counts, fit$frail) to tests/data/frailty_*.csv.
# Run from the repository root: Rscript benchmarks/r/frailty_reference.R
library(survival)
out <- "tests/data"

# simulated: 40 clusters of 8-60 subjects, gamma frailty (variance 0.6), 3 covariates, times on a
# coarse grid (many ties), uniform censoring. With seed 5 R's theta search converges (8 fits); with
# seed 1 it stops at coxph.control()$outer.max = 10 fits without meeting its tolerance, as it often does.
simulate <- function(seed) {
  set.seed(seed)
  G <- 40
  size <- sample(8:60, G, replace = TRUE)
  cl <- rep(seq_len(G), size)
  n <- length(cl)
  u <- rgamma(G, shape = 1 / 0.6, scale = 0.6)[cl]
  x1 <- rbinom(n, 1, 0.5)
  x2 <- round(rnorm(n), 3)
  x3 <- rbinom(n, 1, 0.3)
  tt <- rexp(n, 0.15 * u * exp(-0.5 * x1 + 0.3 * x2 + 0.4 * x3))
  cc <- runif(n, 1, 8)
  data.frame(time = ceiling(pmin(tt, cc) * 4) / 4, status = as.integer(tt <= cc), x1 = x1, x2 = x2, x3 = x3,
             cluster = paste0("c", cl))
}
sim <- simulate(5)
sim_slow <- simulate(1)
write.csv(sim, file.path(out, "frailty_sim.csv"), row.names = FALSE)
write.csv(sim_slow, file.path(out, "frailty_sim_slow.csv"), row.names = FALSE)
rats2 <- rats[, c("litter", "rx", "time", "status")]
write.csv(rats2, file.path(out, "frailty_rats.csv"), row.names = FALSE)
kidney2 <- kidney[, c("id", "time", "status", "age", "sex")]
write.csv(kidney2, file.path(out, "frailty_kidney.csv"), row.names = FALSE)

fits <- list(
  list("rats", "em", NA, "efron", coxph(Surv(time, status) ~ rx + frailty(litter), rats2)),
  list("rats", "fixed", 0.5, "efron", coxph(Surv(time, status) ~ rx + frailty(litter, theta = 0.5), rats2)),
  list("sim", "em", NA, "efron", coxph(Surv(time, status) ~ x1 + x2 + x3 + frailty(cluster), sim)),
  list("sim", "em", NA, "breslow", coxph(Surv(time, status) ~ x1 + x2 + x3 + frailty(cluster), sim, ties = "breslow")),
  list("sim", "fixed", 0.25, "efron", coxph(Surv(time, status) ~ x1 + x2 + x3 + frailty(cluster, theta = 0.25), sim)),
  list("sim", "fixed", 0, "efron", coxph(Surv(time, status) ~ x1 + x2 + x3 + frailty(cluster, theta = 0), sim)),
  list("sim_slow", "em", NA, "efron", coxph(Surv(time, status) ~ x1 + x2 + x3 + frailty(cluster), sim_slow)),
  list("kidney", "em", NA, "efron", coxph(Surv(time, status) ~ age + sex + frailty(id), kidney2))
)
clusters <- list(rats = sort(unique(rats2$litter)), sim = sort(unique(sim$cluster)),
                 sim_slow = sort(unique(sim_slow$cluster)), kidney = sort(unique(kidney2$id)))
res <- NULL
frail <- NULL
for (f in fits) {
  fit <- f[[5]]
  h <- fit$history[[1]]
  theta_used <- if (is.null(h$history)) h$theta else h$history[nrow(h$history), 1]
  res <- rbind(res, data.frame(dataset = f[[1]], method = f[[2]], theta_fixed = f[[3]], ties = f[[4]],
                               term = names(coef(fit)), coef = sprintf("%.12g", coef(fit)),
                               se = sprintf("%.12g", sqrt(diag(fit$var))), theta = sprintf("%.12g", theta_used),
                               theta_next = sprintf("%.12g", h$theta), loglik = sprintf("%.12g", fit$loglik[2]),
                               c_loglik = sprintf("%.12g", h$c.loglik), outer = fit$iter[1], inner = fit$iter[2]))
  frail <- rbind(frail, data.frame(dataset = f[[1]], method = f[[2]], theta_fixed = f[[3]], ties = f[[4]],
                                   cluster = clusters[[f[[1]]]],
                                   frail = sprintf("%.12g", fit$frail)))
}
write.csv(res, file.path(out, "frailty_reference.csv"), row.names = FALSE, quote = FALSE)
write.csv(frail, file.path(out, "frailty_frail.csv"), row.names = FALSE, quote = FALSE)
print(res)
cat("R", R.version.string, "survival", as.character(packageVersion("survival")), "\n")
