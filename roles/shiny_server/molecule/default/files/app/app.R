# A tiny stand-in app for the Molecule scenario: shows that the service user can read the settings file
# ($CLICKSTREAM_DB_CONFIG) by printing DW_USER and DW_NAME (never the password) in the static page.
cfg_path <- Sys.getenv("CLICKSTREAM_DB_CONFIG")
lines <- readLines(cfg_path, warn = FALSE)
kv <- regmatches(lines, regexpr("=", lines), invert = TRUE)
cfg <- list()
for (p in kv) if (length(p) == 2) cfg[[trimws(p[1])]] <- trimws(p[2])
shiny::shinyApp(
  ui = shiny::fluidPage(
    shiny::h1("molecule-shiny"),
    shiny::p(paste0("db-user:", cfg$DW_USER, " db-name:", cfg$DW_NAME, " password-set:", nzchar(cfg$DW_PASSWORD)))
  ),
  server = function(input, output, session) NULL
)
