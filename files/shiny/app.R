# Clickstream analytics dashboards: entry point for shiny::runApp("<this directory>").
# Settings come from the environment (app/settings.R); the app connects as the read-only dashboard_reader.
# Layout (rhino-like): app/logic/ = queries and calculations in plain functions, app/view/ = one Shiny module
# per dashboard plus the shared filters and UI helpers, app/main.R = wiring.
for (f in c(sort(Sys.glob("app/*.R")), sort(Sys.glob("app/logic/*.R")), sort(Sys.glob("app/view/*.R")))) {
  source(f, local = TRUE)
}

shiny::shinyApp(ui = app_ui(), server = app_server)
