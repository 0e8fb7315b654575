# Retention dashboard: weekly cohort heatmaps (new clients, purchasers) and the client segments' overview.

retention_ui <- function(id) {
  ns <- shiny::NS(id)
  cohort_card <- function(kind) {
    section_card(
      COHORT_KINDS[[kind]],
      subtitle = paste("Share of each weekly cohort active in each later week (ISO weeks, UTC). The cohorts whose",
                       "week starts in the period, and at least the last", RETENTION_MIN_WEEKS, "weeks;",
                       "category, brand and login-state filters do not apply."),
      shiny::plotOutput(ns(paste0(kind, "_heatmap")), height = 340),
      shiny::uiOutput(ns(paste0(kind, "_table")))
    )
  }
  shiny::tagList(
    shiny::uiOutput(ns("dims_note")),
    cohort_card("clients"),
    cohort_card("purchasers"),
    section_card("Client segments", shiny::uiOutput(ns("segments")))
  )
}

retention_heatmap <- function(m) {
  m$cohort <- factor(format(m$cohort_week), levels = rev(format(sort(unique(m$cohort_week)))))
  ggplot2::ggplot(m, ggplot2::aes(factor(week), cohort, fill = share)) +
    ggplot2::geom_tile(colour = "white") +
    ggplot2::geom_text(ggplot2::aes(label = fmt_pct(share, 0)), size = 3.2) +
    ggplot2::scale_fill_gradient(low = "#eff6ff", high = DASH_COLORS[1], limits = c(0, 1), labels = scales::label_percent(),
                                 na.value = "grey95") +
    ggplot2::labs(x = "weeks after the cohort's week", y = "cohort (week of)", fill = "active") + theme_dash() +
    ggplot2::theme(legend.key.width = grid::unit(3, "lines"))
}

retention_table <- function(m, id) {
  wide <- retention_wide(m)
  weeks <- grep("^week_", names(wide), value = TRUE)
  columns <- c(cohort_week = "Cohort (week of)", size = "Clients",
               stats::setNames(paste("Week", sub("week_", "", weeks)), weeks))
  table_wrap(html_table(wide, id = id, columns = columns,
                        formatters = c(list(size = fmt_int), stats::setNames(rep(list(fmt_pct), length(weeks)), weeks))))
}

retention_server <- function(id, filters, q) {
  shiny::moduleServer(id, function(input, output, session) {
    output$dims_note <- shiny::renderUI({  # channel/device/segment: the cohorts apply them, the segments do not
      if (dims_filtered(filters())) {
        callout("Channel, device and segment filters",
                shiny::div(class = "dims-cohorts", "Each cohort counts the clients whose cohort session (the first ",
                           "visit's, the first purchase's) matches; the client segments show every client."))
      }
    })
    for (kind in names(COHORT_KINDS)) local({
      k <- kind
      m <- shiny::reactive(retention(q, filters(), k))
      output[[paste0(k, "_heatmap")]] <- shiny::renderPlot({
        shiny::validate(shiny::need(nrow(m()) > 0, NO_DATA))
        retention_heatmap(m())
      })
      output[[paste0(k, "_table")]] <- shiny::renderUI({
        shiny::validate(shiny::need(nrow(m()) > 0, NO_DATA))
        retention_table(m(), session$ns(paste0(k, "-table")))
      })
    })

    output$segments <- shiny::renderUI({
      d <- segment_overview(q, filters())
      as_of <- attr(d, "as_of")
      shiny::validate(shiny::need(!is.na(as_of), "No client segments computed by the end of the period yet."))
      shiny::tagList(
        html_table(d, id = session$ns("segments-table"),
                   columns = c(label = "Segment", clients = "Clients", share = "Share", purchasers = "Purchasers",
                               revenue = "Revenue (window)"),
                   formatters = list(clients = fmt_int, share = fmt_pct, purchasers = fmt_int, revenue = fmt_money)),
        shiny::div(class = "dash-card-subtitle", `data-as-of` = format(as_of),
                   sprintf("As of the end of %s (UTC), recomputed daily.", format(as_of)))
      )
    })
  })
}
