# Cumulative incidence with death as a competing risk, by R, for tests/test_competing_risks.py and
# benchmarks/competing_risks.py:
#   Rscript benchmarks/r/competing_risks_reference.R DATA.csv OUT.csv [TIMES]
# DATA.csv: columns T (years), status (0 censored, 1 event, 2 death without the event), MH (0/1) and
#   numeric covariates named x1, x2, ... (every column starting with "x").
# OUT.csv: columns method, MH, cause, time, value:
#  - cuminc: cmprsk::cuminc(T, status, group = MH), timepoints() (cause 1 and 2);
#  - survfit_ms: survival's multi-state survfit(Surv(T, factor(status)) ~ MH) (Aalen-Johansen), pstate;
#  - standardized: coxph(Surv(T, status == k) ~ x + strata(MH)) for k = 1, 2 (Efron ties); each row's
#    cumulative hazards under arm MH from survfit(fit, newdata, ctype = 1); the Aalen-Johansen product
#    of the two gives the row's cumulative incidence of cause 1; averaged over every row (all arms).
# TIMES: comma-separated (default 0.5,1,1.5,2,2.5,3,4,5).
suppressMessages({library(survival); library(cmprsk)})
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
times <- if (length(args) >= 3) as.numeric(strsplit(args[3], ",")[[1]]) else c(0.5, 1, 1.5, 2, 2.5, 3, 4, 5)
xs <- grep("^x", names(d), value = TRUE)
out <- list()
ci <- cuminc(d$T, d$status, group = d$MH, cencode = 0)
tp <- timepoints(ci, times)$est
for (a in 0:1) for (k in 1:2) {
  out[[length(out) + 1]] <- data.frame(method = "cuminc", MH = a, cause = k, time = times, value = tp[paste(a, k), ])
}
ms <- survfit(Surv(T, factor(status, 0:2)) ~ MH, data = d)
sm <- summary(ms, times = times, extend = TRUE)
for (a in 0:1) for (k in 1:2) {
  rows <- sm$strata == paste0("MH=", a)
  out[[length(out) + 1]] <- data.frame(method = "survfit_ms", MH = a, cause = k, time = sm$time[rows],
                                       value = sm$pstate[rows, k + 1])
}
rhs <- paste(c(xs, "strata(MH)"), collapse = " + ")
fits <- lapply(1:2, function(k) coxph(as.formula(paste0("Surv(T, status == ", k, ") ~ ", rhs)), data = d,
                                      ties = "efron"))
for (a in 0:1) {
  nd <- d; nd$MH <- a
  ut <- sort(unique(d$T[d$MH == a & d$status > 0]))
  H <- lapply(fits, function(f) {
    sf <- survfit(f, newdata = nd, ctype = 1)   # one curve per row, all on arm a's event times
    m <- length(sf$time) / nrow(nd)
    ch <- matrix(sf$cumhaz, nrow = m)
    apply(ch, 2, function(h) stepfun(sf$time[1:m], c(0, h))(ut))     # length(ut) x n
  })
  dA1 <- apply(rbind(0, H[[1]]), 2, diff); dA2 <- apply(rbind(0, H[[2]]), 2, diff)
  S <- apply(1 - dA1 - dA2, 2, cumprod)
  Sprev <- rbind(1, S[-nrow(S), , drop = FALSE])
  F1 <- apply(Sprev * dA1, 2, cumsum)
  avg <- rowMeans(F1)
  out[[length(out) + 1]] <- data.frame(method = "standardized", MH = a, cause = 1, time = times,
                                       value = stepfun(ut, c(0, avg))(times))
}
for (k in 1:2) {
  cf <- coef(fits[[k]])
  out[[length(out) + 1]] <- data.frame(method = paste0("coef_cause", k, ":", names(cf)), MH = NA, cause = k,
                                       time = NA, value = unname(cf))
}
write.csv(do.call(rbind, out), args[2], row.names = FALSE)
