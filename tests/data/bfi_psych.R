# Reference values from R psych for the reliability code.
#
# Run from the project root:  Rscript tests/data/bfi_psych.R
#
# Writes
#   tests/data/bfi.csv         the 25 bfi personality items (A1..O5), all 2800
#                              rows, header row, NA as an empty cell, no row names
#   tests/data/bfi_psych.json  per-scale reference statistics (see below)
#
# Dataset: psych::bfi (SAPA project, Revelle, Wilt & Rosenthal 2010), items on
# a 1..6 scale. Scoring keys are psych::bfi.keys; reverse-keyed items are
# rescored as 7 - x. Every statistic for a scale uses that scale's complete
# cases only (na.omit over its 5 items).
#
# Per scale ("A", "C", "E", "N", "O"):
#   n            complete cases
#   items        item ids in order
#   alpha        psych::alpha(keyed, check.keys = FALSE)$total$raw_alpha
#   alpha_low,   Feldt 95% interval as psych::alpha reports it ($feldt, from
#   alpha_high   psych:::alpha.ci(alpha, n, k)):
#                  low  = 1 - (1 - alpha) * qf(0.975, n - 1, (n - 1) * (k - 1))
#                  high = 1 - (1 - alpha) * qf(0.025, n - 1, (n - 1) * (k - 1))
#   omega_total  psych::omega(keyed, nfactors = 1, fm = "minres", plot = FALSE)$omega.tot
#   loadings,h2  psych::fa(keyed, nfactors = 1, fm = "minres") loadings and communalities
#   sum_r        sum of all entries of cor(keyed)
#   mean_score,  of the 0..100 score 100 * mean((keyed - 1) / 5) per row
#   sd_score
#   sem          sd_score * sqrt(1 - alpha)

suppressPackageStartupMessages({
  library(psych)
  library(jsonlite)
})

out_dir <- file.path("tests", "data")
if (!dir.exists(out_dir)) stop("run from the project root (tests/data not found)")

data(bfi, package = "psych", envir = environment())
scales <- c("A", "C", "E", "N", "O")
items <- unlist(lapply(scales, function(s) paste0(s, 1:5)))
x <- bfi[, items]
stopifnot(nrow(x) == 2800, ncol(x) == 25)

# psych's own keys; the "-" prefixed items are reverse keyed.
keys <- unlist(bfi.keys[c("agree", "conscientious", "extraversion",
                          "neuroticism", "openness")])
reverse <- sub("^-", "", keys[startsWith(keys, "-")])
stopifnot(identical(unname(reverse), c("A1", "C4", "C5", "E1", "E2", "O2", "O5")))

write.table(x, file.path(out_dir, "bfi.csv"), sep = ",", na = "",
            row.names = FALSE, col.names = TRUE, quote = FALSE, eol = "\n")

result <- list(
  provenance = paste0(
    R.version.string, "; psych ", as.character(packageVersion("psych")),
    "; dataset: psych::bfi (25 personality items A1..O5 of 2800 subjects, ",
    "SAPA project https://www.sapa-project.org/, Revelle, Wilt & Rosenthal 2010, ",
    "shipped with psych); generated ", format(Sys.Date(), "%Y-%m-%d"),
    " by tests/data/bfi_psych.R"),
  reverse = unname(reverse)
)

for (s in scales) {
  cols <- paste0(s, 1:5)
  keyed <- as.data.frame(lapply(x[, cols], as.numeric))
  for (it in intersect(cols, reverse)) keyed[[it]] <- 7 - keyed[[it]]
  keyed <- na.omit(keyed)
  attr(keyed, "na.action") <- NULL
  n <- nrow(keyed)

  a <- psych::alpha(keyed, check.keys = FALSE)
  alpha <- a$total$raw_alpha
  feldt <- a$feldt
  om <- suppressWarnings(suppressMessages(
    psych::omega(keyed, nfactors = 1, fm = "minres", plot = FALSE)))
  f <- psych::fa(keyed, nfactors = 1, fm = "minres")
  r <- cor(keyed)

  score <- 100 * rowMeans((as.matrix(keyed) - 1) / 5)
  sd_score <- sd(score)

  result[[s]] <- list(
    n = n,
    items = cols,
    alpha = alpha,
    alpha_low = feldt$lower.ci$raw_alpha,
    alpha_high = feldt$upper.ci$raw_alpha,
    omega_total = om$omega.tot,
    loadings = unname(as.numeric(f$loadings[, 1])),
    h2 = unname(as.numeric(f$communality)),
    sum_r = sum(r),
    sem = sd_score * sqrt(1 - alpha),
    mean_score = mean(score),
    sd_score = sd_score
  )
}

write_json(result, file.path(out_dir, "bfi_psych.json"), auto_unbox = TRUE,
           digits = NA, pretty = TRUE)
cat("wrote", file.path(out_dir, "bfi.csv"), "and",
    file.path(out_dir, "bfi_psych.json"), "\n")
