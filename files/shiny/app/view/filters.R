# Shared filters module: date range with presets (today / last 7 / last 30 days, UTC), product category, brand,
# login state, channel group, device category and segment. Returns a reactive filter list (see make_filters()).

filters_ui <- function(id) {
  ns <- shiny::NS(id)
  today <- today_utc()
  shiny::tagList(
    shiny::div(
      class = "filter-presets btn-group", role = "group", `aria-label` = "Date presets",
      shiny::actionButton(ns("preset_today"), "Today", class = "btn-outline-primary btn-sm"),
      shiny::actionButton(ns("preset_last7"), "Last 7 days", class = "btn-outline-primary btn-sm"),
      shiny::actionButton(ns("preset_last30"), "Last 30 days", class = "btn-outline-primary btn-sm")
    ),
    date_range_input(ns("dates"), "Date range (UTC)", start = today - 6, end = today),
    shiny::selectizeInput(ns("category"), "Product category", choices = c("All categories" = ALL)),
    shiny::selectizeInput(ns("brand"), "Brand", choices = c("All brands" = ALL)),
    shiny::radioButtons(ns("login_state"), "Login state",
                        choices = c("All" = ALL, "Logged in" = "logged_in", "Logged out" = "logged_out")),
    shiny::selectizeInput(ns("channel"), "Channel group", choices = c("All channels" = ALL)),
    shiny::selectizeInput(ns("device"), "Device", choices = c("All devices" = ALL)),
    shiny::selectizeInput(ns("segment"), "Segment (as of the day before the session)",
                          choices = c("All segments" = ALL, stats::setNames(names(SEGMENT_LABELS), SEGMENT_LABELS))),
    shiny::div(class = "filter-note",
               "Category and brand apply to the funnel and product dashboards; the login state to all but pipeline health.",
               DIMS_NOTE)
  )
}

filters_server <- function(id, q) {
  shiny::moduleServer(id, function(input, output, session) {
    choices <- tryCatch(filter_choices(q, today_utc() - MAX_RANGE_DAYS), error = function(e) {
      message("filter choices: ", conditionMessage(e))
      list(category = character(), brand = character())
    })
    shiny::updateSelectizeInput(session, "category", choices = c("All categories" = ALL, choices$category))
    shiny::updateSelectizeInput(session, "brand", choices = c("All brands" = ALL, choices$brand))
    dims <- tryCatch(dims_choices(q, today_utc() - MAX_RANGE_DAYS), error = function(e) {
      message("filter choices: ", conditionMessage(e))
      list(channel = character(), device = character())
    })
    shiny::updateSelectizeInput(session, "channel", choices = c("All channels" = ALL, dims$channel))
    shiny::updateSelectizeInput(session, "device", choices = c("All devices" = ALL, dims$device))

    set_preset <- function(preset) {
      r <- preset_range(preset)
      session$sendInputMessage("dates", list(start = format(r[1]), end = format(r[2])))
    }
    shiny::observeEvent(input$preset_today, set_preset("today"))
    shiny::observeEvent(input$preset_last7, set_preset("last7"))
    shiny::observeEvent(input$preset_last30, set_preset("last30"))

    raw <- shiny::reactive({
      dates <- parse_dates(input$dates)
      shiny::req(dates)
      make_filters(dates, input$category, input$brand, input$login_state, input$channel, input$device, input$segment)
    })
    shiny::debounce(raw, 250)
  })
}

date_range_input <- function(id, label, start, end) {
  shiny::div(
    class = "form-group shiny-input-container cs-date-range", id = id,
    shiny::tags$label(class = "control-label", `for` = paste0(id, "-start"), label),
    shiny::div(class = "input-group input-group-sm",
               shiny::tags$input(type = "date", class = "form-control cs-start", id = paste0(id, "-start"),
                                 value = format(start), `aria-label` = "start date"),
               shiny::span(class = "input-group-text", "to"),
               shiny::tags$input(type = "date", class = "form-control cs-end", id = paste0(id, "-end"),
                                 value = format(end), `aria-label` = "end date"))
  )
}

# Input value (two ISO dates from the browser, possibly as a list) -> two Dates, or NULL when unusable.
parse_dates <- function(x) {
  if (is.null(x)) return(NULL)
  v <- unlist(x, use.names = FALSE)
  if (length(v) != 2 || !is.character(v)) return(NULL)
  d <- suppressWarnings(as.Date(v, format = "%Y-%m-%d"))
  if (any(is.na(d))) NULL else d
}

DIMS_NOTE <- paste("Channel, device and segment apply to every dashboard but pipeline health (acquisition:",
                   "the credited purchases are those given to touch sessions of that device and segment).")

# On a dashboard the channel/device/segment filters do not reach: a note while one of them is set.
dims_not_applied <- function(filters) {
  shiny::renderUI({
    f <- filters()
    if (dims_filtered(f)) {
      callout("Channel, device and segment filters do not apply here",
              shiny::div(class = "dims-not-applied", "This dashboard shows every channel, device and segment; ",
                         "the dashboards that apply them say so."))
    }
  })
}
