# UI building blocks shared by the dashboards: KPI cards, empty state, callouts, chart theme.

kpi_card <- function(metric, label, value_text, value, change = NULL, level = NULL, change_kind = "relative",
                     sub = NULL) {
  change_class <- if (is.null(change) || is.na(change)) "kpi-change neutral" else
    if (change >= 0) "kpi-change up" else "kpi-change down"
  shiny::div(
    class = paste("kpi-card", if (!is.null(level)) paste0("level-", level)),
    `data-metric` = metric, `data-value` = if (is.na(value)) "" else format(value, scientific = FALSE, digits = 15),
    shiny::div(class = "kpi-label", label),
    shiny::div(class = "kpi-value", value_text),
    if (!is.null(change)) shiny::div(class = change_class, `data-change` = if (is.na(change)) "" else
      format(change, digits = 6), fmt_change(change, change_kind)),
    if (!is.null(sub)) shiny::div(class = "kpi-sub", sub)
  )
}

kpi_row <- function(...) shiny::div(class = "kpi-row", ...)

empty_state <- function(message = "No data for the selected filters.", hint = NULL) {
  shiny::div(
    class = "empty-state", role = "status",
    shiny::div(class = "empty-state-title", message),
    shiny::div(class = "empty-state-hint",
               hint %||% "Widen the date range or clear the category, brand or login-state filters.")
  )
}

callout <- function(title, ..., level = "warn") {
  shiny::div(class = paste("callout", paste0("callout-", level)), role = "note",
             shiny::div(class = "callout-title", title), ...)
}

section_card <- function(title, ..., subtitle = NULL) {
  shiny::div(class = "dash-card",
             shiny::h5(class = "dash-card-title", title),
             if (!is.null(subtitle)) shiny::div(class = "dash-card-subtitle", subtitle),
             ...)
}

NO_DATA <- "No data for the selected filters."

`%||%` <- function(a, b) if (is.null(a)) b else a

theme_dash <- function() {
  ggplot2::theme_minimal(base_size = 13) +
    ggplot2::theme(panel.grid.minor = ggplot2::element_blank(), legend.position = "bottom",
                   plot.title = ggplot2::element_text(face = "bold", size = 13))
}

DASH_COLORS <- c("#2563eb", "#16a34a", "#f59e0b", "#dc2626", "#7c3aed", "#0891b2")

# A plain HTML table whose cells carry data-col attributes (tests and screen readers read them).
# A table inside a card: long cells wrap, and a table wider than its card still scrolls inside it.
table_wrap <- function(table) shiny::div(class = "dash-table-wrap", table)

html_table <- function(d, columns, formatters = list(), id = NULL, class = "table table-sm dash-table") {
  header <- shiny::tags$tr(lapply(names(columns), function(col) shiny::tags$th(columns[[col]])))
  rows <- lapply(seq_len(nrow(d)), function(i) {
    shiny::tags$tr(lapply(names(columns), function(col) {
      v <- d[[col]][i]
      f <- formatters[[col]]
      shiny::tags$td(`data-col` = col, `data-value` = if (is.numeric(v)) format(v, scientific = FALSE, digits = 15) else v,
                     if (is.null(f)) as.character(v) else f(v))
    }))
  })
  shiny::tags$table(id = id, class = class, shiny::tags$thead(header), shiny::tags$tbody(rows))
}
