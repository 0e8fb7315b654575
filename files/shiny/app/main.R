# Wiring: settings, the query function, the page layout and the dashboard modules.

options(shiny.sanitize.errors = TRUE)  # users see a generic message; details go to the log
Sys.setenv(TZ = "UTC")

app_ui <- function() {
  shiny::fluidPage(
    theme = bslib::bs_theme(version = 5, primary = "#2563eb"),
    title = "Clickstream analytics",
    shiny::tags$head(shiny::tags$link(rel = "stylesheet", href = "styles.css"),
                    shiny::tags$link(rel = "icon", href = "data:,"),
                    shiny::tags$script(src = "date-range.js")),
    shiny::div(class = "app-header", shiny::h3("Clickstream analytics"),
               shiny::uiOutput("connection_status", inline = TRUE)),
    shiny::sidebarLayout(
      shiny::sidebarPanel(width = 3, filters_ui("filters"), shiny::uiOutput("filter_summary")),
      shiny::mainPanel(
        width = 9,
        shiny::tabsetPanel(
          id = "dashboard", type = "tabs",
          shiny::tabPanel("Overview", value = "overview", overview_ui("overview")),
          shiny::tabPanel("Conversion funnel", value = "funnel", funnel_ui("funnel")),
          shiny::tabPanel("Product engagement", value = "products", products_ui("products")),
          shiny::tabPanel("User journeys", value = "journeys", journeys_ui("journeys")),
          shiny::tabPanel("Retention", value = "retention", retention_ui("retention")),
          shiny::tabPanel("Acquisition", value = "acquisition", acquisition_ui("acquisition")),
          shiny::tabPanel("Pipeline health", value = "pipeline", pipeline_ui("pipeline"))
        )
      )
    )
  )
}

app_server <- function(input, output, session) {
  settings <- tryCatch(load_settings(), error = function(e) e)
  if (inherits(settings, "error")) {
    message("settings: ", conditionMessage(settings))
    output$connection_status <- shiny::renderUI(
      shiny::div(class = "conn-error", role = "alert", paste("Configuration error:", conditionMessage(settings))))
    return(invisible())
  }
  q <- app_query_fn(settings)
  filters <- filters_server("filters", q)
  output$filter_summary <- shiny::renderUI({
    f <- filters()
    shiny::div(class = "filter-summary", `data-filters` = jsonlite::toJSON(lapply(f, as.character), auto_unbox = TRUE),
               describe_filters(f))
  })
  output$connection_status <- shiny::renderUI({
    ok <- tryCatch(nrow(q("SELECT 1 AS ok")) == 1, error = function(e) {
      message("database: ", conditionMessage(e))
      FALSE
    })
    if (ok) shiny::span(class = "conn-ok", describe_settings(settings)) else
      shiny::div(class = "conn-error", role = "alert", "Cannot reach the data warehouse: see the app log.")
  })
  overview_server("overview", filters, q)
  funnel_server("funnel", filters, q)
  products_server("products", filters, q)
  journeys_server("journeys", filters, q)
  retention_server("retention", filters, q)
  acquisition_server("acquisition", filters, q)
  pipeline_server("pipeline", q, settings)
}

# One query function (one connection) per R process, shared by its sessions.
app_query_fn <- local({
  cache <- NULL
  function(settings) {
    if (is.null(cache)) {
      message("connecting to ", describe_settings(settings))
      cache <<- make_query_fn(settings)
    }
    cache
  }
})
