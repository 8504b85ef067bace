# Reference values for tests/test_cox_engine.py (case weights and counting-process data):
# simulates tests/data/cox_weights_counting.csv and writes R survival's coxph results to
# tests/data/cox_weights_counting_reference.csv.
# Run from the project root: Rscript benchmarks/r/cox_weights_counting_reference.R
library(survival)
set.seed(20261123)
n <- 1500
G <- sample(0:29, n, replace = TRUE)
u <- rgamma(30, 3, 3)[G + 1]
a <- G %% 2
c <- rbinom(n, 1, 0.4)
b0 <- rnorm(n)
W <- sample(1:3, n, replace = TRUE, prob = c(0.6, 0.3, 0.1))    # frequency weights
t <- ceiling(rexp(n, 0.15 * u * exp(-0.4 * a + 0.3 * b0 + 0.2 * c)) * 10) / 10   # heavy ties
cens <- ceiling(runif(n, 1, 8) * 10) / 10
T <- pmin(t, cens); E <- as.integer(t <= cens)
entry <- ifelse(runif(n) < 0.3, floor(runif(n, 0, 1) * T * 10) / 10, 0)   # some left truncation
base <- data.frame(id = 1:n, G, W, a, b0, c, entry, T, E)
# counting-process rows: split at 2 and 4 years; b changes after each split (time-varying)
cp <- survSplit(Surv(entry, T, E) ~ ., data = base, cut = c(2, 4), episode = "ep", start = "start", end = "stop")
cp$b <- cp$b0 + 0.5 * (cp$ep - 1)
d <- cp[, c("id", "G", "W", "a", "b", "c", "start", "stop", "E", "ep")]
write.csv(d, "tests/data/cox_weights_counting.csv", row.names = FALSE)
first <- d[!duplicated(d$id), ]
# right-censored data (one row per subject, first row's b, follow-up to the subject's last stop)
rc <- data.frame(first[, c("id", "G", "W", "a", "b", "c")], T = base$T, E = base$E)

out <- list()
add <- function(case, f) {
  k <- length(coef(f))
  out[[length(out) + 1]] <<- data.frame(case = case, quantity = rep(c("coef", "robust_se", "naive_se"), each = k),
                                        index = rep(0:(k - 1), 3),
                                        value = c(coef(f), sqrt(diag(vcov(f))), sqrt(diag(f$naive.var))))
  out[[length(out) + 1]] <<- data.frame(case = case, quantity = "loglik", index = 0:1, value = f$loglik)
}
for (ties in c("efron", "breslow")) {
  add(paste0("weights_", ties), coxph(Surv(T, E) ~ a + b + c + cluster(G), data = rc, weights = W, ties = ties))
  add(paste0("counting_", ties), coxph(Surv(start, stop, E) ~ a + b + c + cluster(G), data = d, ties = ties))
  add(paste0("counting_weights_", ties), coxph(Surv(start, stop, E) ~ a + b + c + cluster(G), data = d, weights = W, ties = ties))
}
res <- do.call(rbind, out)
res$value <- sprintf("%.12g", res$value)
write.csv(res, "tests/data/cox_weights_counting_reference.csv", row.names = FALSE, quote = FALSE)
cat("R", R.version.string, "survival", as.character(packageVersion("survival")), "\n")
