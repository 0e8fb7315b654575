# Settings from the environment.
#
# The shiny_server role writes the DB settings into a file readable only by the service user and passes its
# path in CLICKSTREAM_DB_CONFIG (lines KEY=VALUE: DW_HOST, DW_PORT, DW_NAME, DW_USER, DW_PASSWORD). The same
# DW_* variables are also read from the environment (tests, ad-hoc runs); the environment wins over the file.
# Optional: CLICKSTREAM_FRESHNESS_WARN_MINUTES / CLICKSTREAM_FRESHNESS_STALE_MINUTES (data freshness
# thresholds of the pipeline-health dashboard, default 90 / 360: the ETL runs every 30 minutes).

SETTING_KEYS <- c("DW_HOST", "DW_PORT", "DW_NAME", "DW_USER", "DW_PASSWORD")

SETTING_DEFAULTS <- list(
  DW_HOST = "127.0.0.1",
  DW_PORT = "5432",
  DW_NAME = "clickstream_dw",
  DW_USER = "dashboard_reader",
  DW_PASSWORD = "",
  CLICKSTREAM_FRESHNESS_WARN_MINUTES = "90",
  CLICKSTREAM_FRESHNESS_STALE_MINUTES = "360"
)

# Parse KEY=VALUE lines (blank lines and # comments ignored, optional surrounding quotes, optional `export `).
parse_config_lines <- function(lines) {
  out <- list()
  for (raw in lines) {
    line <- trimws(raw)
    if (line == "" || startsWith(line, "#")) next
    line <- sub("^export[[:space:]]+", "", line)
    eq <- regexpr("=", line, fixed = TRUE)
    if (eq < 2) stop(sprintf("settings file: line is not KEY=VALUE: %s", substr(line, 1, 40)), call. = FALSE)
    key <- trimws(substr(line, 1, eq - 1))
    value <- trimws(substr(line, eq + 1, nchar(line)))
    if (nchar(value) >= 2 && substr(value, 1, 1) %in% c("'", '"') &&
        substr(value, nchar(value), nchar(value)) == substr(value, 1, 1)) {
      value <- substr(value, 2, nchar(value) - 1)
    }
    out[[key]] <- value
  }
  out
}

read_config_file <- function(path) {
  if (!file.exists(path)) {
    stop(sprintf("CLICKSTREAM_DB_CONFIG points to %s, which does not exist", path), call. = FALSE)
  }
  lines <- tryCatch(readLines(path, warn = FALSE), error = function(e) {
    stop(sprintf("cannot read the settings file %s: %s", path, conditionMessage(e)), call. = FALSE)
  })
  parse_config_lines(lines)
}

# env: a named character vector like Sys.getenv() returns (injected by unit tests).
load_settings <- function(env = Sys.getenv()) {
  settings <- SETTING_DEFAULTS
  config_path <- unname(env["CLICKSTREAM_DB_CONFIG"])
  if (!is.na(config_path) && nzchar(config_path)) {
    from_file <- read_config_file(config_path)
    for (k in intersect(names(from_file), names(SETTING_DEFAULTS))) settings[[k]] <- from_file[[k]]
  }
  for (k in names(SETTING_DEFAULTS)) {
    v <- unname(env[k])
    if (!is.na(v) && nzchar(v)) settings[[k]] <- v
  }
  port <- suppressWarnings(as.integer(settings$DW_PORT))
  if (is.na(port) || port < 1 || port > 65535) {
    stop(sprintf("DW_PORT must be a TCP port, got %s", settings$DW_PORT), call. = FALSE)
  }
  settings$DW_PORT <- port
  for (k in c("CLICKSTREAM_FRESHNESS_WARN_MINUTES", "CLICKSTREAM_FRESHNESS_STALE_MINUTES")) {
    n <- suppressWarnings(as.numeric(settings[[k]]))
    if (is.na(n) || n <= 0) stop(sprintf("%s must be a positive number of minutes", k), call. = FALSE)
    settings[[k]] <- n
  }
  settings
}

# For logs: never print the password.
describe_settings <- function(settings) {
  sprintf("%s@%s:%s/%s", settings$DW_USER, settings$DW_HOST, settings$DW_PORT, settings$DW_NAME)
}
