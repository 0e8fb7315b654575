# Overview and time trends dashboard.

overview_ui <- function(id) {
  ns <- shiny::NS(id)
  shiny::tagList(
    shiny::uiOutput(ns("empty")),
    shiny::uiOutput(ns("kpis")),
    shiny::fluidRow(
      shiny::column(6, section_card("Events and sessions per hour", shiny::plotOutput(ns("hourly"), height = 280))),
      shiny::column(6, section_card("Events and sessions per day", shiny::plotOutput(ns("daily"), height = 280),
                                    shiny::uiOutput(ns("daily_numbers"))))
    ),
    section_card("Activity by weekday and hour (UTC, events)", shiny::plotOutput(ns("heatmap"), height = 300))
  )
}

overview_server <- function(id, filters, q) {
  shiny::moduleServer(id, function(input, output, session) {
    totals <- shiny::reactive({
      f <- filters()
      list(current = overview_totals(q, f),
           previous = overview_totals(q, with_period(f, previous_period(f$start, f$end))))
    })
    has_data <- shiny::reactive(totals()$current$events > 0 || totals()$current$sessions > 0)
    hourly <- shiny::reactive(overview_hourly(q, filters()))
    daily <- shiny::reactive(overview_daily(q, filters()))

    output$empty <- shiny::renderUI(if (!has_data()) empty_state())

    output$kpis <- shiny::renderUI({
      k <- overview_kpis(totals()$current, totals()$previous)
      fmt <- list(events = fmt_int, sessions = fmt_int, users = fmt_int, conversion_rate = fmt_pct,
                  revenue = fmt_money)
      kpi_row(lapply(seq_len(nrow(k)), function(i) {
        kpi_card(k$metric[i], k$label[i], fmt[[k$metric[i]]](k$value[i]), k$value[i], k$change[i],
                 change_kind = k$change_kind[i])
      }))
    })

    output$hourly <- shiny::renderPlot({
      d <- hourly()
      shiny::validate(shiny::need(nrow(d) > 0, NO_DATA))
      long <- rbind(data.frame(t = d$activity_hour, series = "events", n = d$events),
                    data.frame(t = d$activity_hour, series = "sessions started", n = d$sessions))
      ggplot2::ggplot(long, ggplot2::aes(t, n, colour = series)) +
        ggplot2::geom_line(linewidth = 0.8) +
        ggplot2::scale_colour_manual(values = DASH_COLORS, name = NULL) +
        ggplot2::scale_y_continuous(labels = scales::label_comma()) +
        ggplot2::labs(x = "hour (UTC)", y = NULL) + theme_dash()
    })

    output$daily <- shiny::renderPlot({
      d <- daily()
      shiny::validate(shiny::need(nrow(d) > 0, NO_DATA))
      long <- rbind(data.frame(day = d$activity_date, series = "events", n = d$events),
                    data.frame(day = d$activity_date, series = "sessions", n = d$sessions))
      ggplot2::ggplot(long, ggplot2::aes(day, n, fill = series)) +
        ggplot2::geom_col(position = "dodge", width = 0.8) +
        ggplot2::scale_fill_manual(values = DASH_COLORS, name = NULL) +
        ggplot2::scale_y_continuous(labels = scales::label_comma()) +
        ggplot2::labs(x = "day (UTC)", y = NULL) + theme_dash()
    })

    # The chart's numbers, folded away: for screen readers, copying, and tests.
    output$daily_numbers <- shiny::renderUI({
      d <- daily()
      if (nrow(d) == 0) return(NULL)
      d$day <- format(d$activity_date)
      shiny::tags$details(class = "dash-numbers", shiny::tags$summary("The numbers per day"),
                          table_wrap(html_table(d, id = session$ns("daily-table"),
                                                columns = c(day = "Day (UTC)", events = "Events", sessions = "Sessions",
                                                            revenue = "Revenue"),
                                                formatters = list(events = fmt_int, sessions = fmt_int,
                                                                  revenue = fmt_money))))
    })

    output$heatmap <- shiny::renderPlot({
      shiny::validate(shiny::need(has_data(), NO_DATA))
      d <- overview_heatmap(q, filters())
      ggplot2::ggplot(d, ggplot2::aes(hour, weekday_label, fill = events)) +
        ggplot2::geom_tile(colour = "white") +
        ggplot2::scale_fill_gradient(low = "#eff6ff", high = "#1d4ed8", labels = scales::label_comma()) +
        ggplot2::scale_x_continuous(breaks = seq(0, 23, 3), expand = c(0, 0)) +
        ggplot2::labs(x = "hour of day (UTC)", y = NULL, fill = "events") + theme_dash() +
        ggplot2::theme(panel.grid = ggplot2::element_blank(), legend.position = "right")
    })
  })
}
