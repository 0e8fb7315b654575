# Small pure calculations shared by the dashboards.

safe_ratio <- function(num, den) {
  n <- if (length(num) == 0 || length(den) == 0) 0 else max(length(num), length(den))
  num <- rep_len(as.numeric(num), n)
  den <- rep_len(as.numeric(den), n)
  out <- num / den
  out[is.na(den) | den == 0] <- NA_real_
  out
}

# Relative change of current against previous (NA when previous is 0 or missing).
pct_change <- function(current, previous) safe_ratio(current - previous, previous)

fmt_int <- function(x) ifelse(is.na(x), "–", formatC(round(x), format = "d", big.mark = ","))
fmt_money <- function(x) ifelse(is.na(x), "–", paste0("$", formatC(x, format = "f", digits = 2, big.mark = ",")))
fmt_pct <- function(x, digits = 1) ifelse(is.na(x), "–", paste0(formatC(100 * x, format = "f", digits = digits), "%"))
# kind "relative": x is a relative change; kind "points": x is a difference of two rates (percentage points).
fmt_change <- function(x, kind = "relative") {
  unit <- if (kind == "points") " pp" else "%"
  ifelse(is.na(x), "no previous data",
         paste0(ifelse(x >= 0, "+", "−"), formatC(abs(100 * x), format = "f", digits = 1), unit,
                " vs previous period"))
}

num0 <- function(x) if (length(x) == 0 || is.na(x)) 0 else as.numeric(x)

fmt_duration <- function(seconds) {
  if (is.na(seconds)) return("–")
  s <- max(0, round(seconds))
  if (s < 120) return(sprintf("%d s", s))
  if (s < 7200) return(sprintf("%d min", s %/% 60))
  if (s < 172800) return(sprintf("%.1f h", s / 3600))
  sprintf("%.1f days", s / 86400)
}
