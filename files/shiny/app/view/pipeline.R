# Pipeline health dashboard (not filtered: it describes the ETL, not the shop).

fmt_time <- function(t) if (length(t) == 0 || is.na(t)) "–" else format(t, "%Y-%m-%d %H:%M:%S UTC", tz = "UTC")

pipeline_ui <- function(id) {
  ns <- shiny::NS(id)
  shiny::tagList(
    shiny::uiOutput(ns("verdict")),
    shiny::uiOutput(ns("kpis")),
    shiny::fluidRow(
      shiny::column(6, section_card("Rejected at the ingest", shiny::uiOutput(ns("ingest_rejects")),
                                    subtitle = "Events the ingest refused (event contract), by reason and field")),
      shiny::column(6, section_card("Rejected by the ETL", shiny::uiOutput(ns("rejects")),
                                    subtitle = "Stored lines the ETL could not load, by reason"))
    ),
    section_card("Anomalies", shiny::uiOutput(ns("anomalies")),
                 subtitle = paste("Hours whose traffic, rejects, duplicates, late arrivals or funnel conversion fell",
                                  "outside the same hour of the week in the previous weeks (last 7 days)")),
    section_card("Recent ETL runs", shiny::uiOutput(ns("runs"))),
    section_card("Quarantined files", shiny::uiOutput(ns("quarantine")),
                 subtitle = "Raw files set aside because their own data failed to load; replayed after a fix"),
    shiny::actionButton(ns("refresh"), "Refresh", class = "btn-outline-secondary btn-sm")
  )
}

pipeline_server <- function(id, q, settings) {
  shiny::moduleServer(id, function(input, output, session) {
    tick <- shiny::reactive({
      input$refresh
      shiny::invalidateLater(60000)
      Sys.time()
    })
    state <- shiny::reactive({
      tick()
      list(last = last_run(q), totals = load_totals(q), fresh = freshness(q), rejects = rejects_by_reason(q),
           runs = recent_runs(q), quarantined = quarantine_count(q), quarantine = quarantined_files(q),
           ingest = ingest_rejects(q), ingest_total = ingest_rejects_total(q), ingest_daily = ingest_rejects_daily(q),
           anomalies = anomaly_flags(q), anomaly_latest = anomaly_latest(q))
    })

    output$verdict <- shiny::renderUI({
      s <- state()
      status <- if (nrow(s$last) == 0) NA_character_ else s$last$status
      fs <- freshness_status(s$fresh$age_seconds, settings$CLICKSTREAM_FRESHNESS_WARN_MINUTES,
                             settings$CLICKSTREAM_FRESHNESS_STALE_MINUTES)
      v <- pipeline_verdict(status, fs, s$quarantined)
      shiny::div(class = paste("verdict", paste0("level-", v$level)), role = "status", `data-level` = v$level,
                 `data-freshness` = fs, v$text)
    })

    output$kpis <- shiny::renderUI({
      s <- state()
      last <- s$last
      status <- if (nrow(last) == 0) NA_character_ else last$status
      level <- if (is.na(status)) "bad" else unname(RUN_STATUS_LEVEL[status]) %||% "warn"
      fs <- freshness_status(s$fresh$age_seconds, settings$CLICKSTREAM_FRESHNESS_WARN_MINUTES,
                             settings$CLICKSTREAM_FRESHNESS_STALE_MINUTES)
      fresh_level <- c(ok = "ok", warn = "warn", stale = "bad", empty = "bad")[[fs]]
      kpi_row(
        kpi_card("last_run_status", "Last ETL run", if (is.na(status)) "never ran" else status,
                 if (is.na(status)) NA else status, level = if (is.na(level)) "warn" else level,
                 sub = sprintf("run %s · started %s · finished %s", if (nrow(last)) last$run_id else "–",
                               fmt_time(if (nrow(last)) last$started_at else NA),
                               fmt_time(if (nrow(last)) last$finished_at else NA))),
        kpi_card("files_loaded", "Files loaded (all time)", fmt_int(s$totals$files_loaded), s$totals$files_loaded),
        kpi_card("events_loaded", "Events loaded (all time)", fmt_int(s$totals$events_loaded), s$totals$events_loaded),
        kpi_card("events_24h", "Events loaded (24 h)", fmt_int(s$totals$events_24h), s$totals$events_24h),
        kpi_card("ingest_rejects_total", "Rejected at the ingest (all time)", fmt_int(s$ingest_total$rejects),
                 s$ingest_total$rejects, sub = sprintf("%s in the last 24 h", fmt_int(s$ingest_total$rejects_24h))),
        kpi_card("rejects_total", "Rejected by the ETL (all time)", fmt_int(s$totals$rejects), s$totals$rejects),
        kpi_card("freshness", "Newest event age", fmt_duration(s$fresh$age_seconds), s$fresh$age_seconds,
                 level = fresh_level),
        kpi_card("quarantined", "Quarantined files", fmt_int(s$quarantined), s$quarantined,
                 level = if (s$quarantined > 0) "bad" else "ok")
      )
    })

    rejects_bars <- function(d, fill) {
      d <- rejects_per_reason(d)
      d$reason <- factor(d$reason, levels = rev(d$reason))
      ggplot2::ggplot(d, ggplot2::aes(reason, rejects)) +
        ggplot2::geom_col(fill = fill, width = 0.7) + ggplot2::coord_flip() +
        ggplot2::scale_y_continuous(labels = scales::label_comma()) +
        ggplot2::labs(x = NULL, y = "rejected") + theme_dash()
    }

    # One message when there is nothing to show (not one per chart and table).
    output$ingest_rejects <- shiny::renderUI({
      d <- state()$ingest
      if (nrow(d) == 0) return(shiny::div(class = "dash-none", "No rejected events: the ingest accepted every event."))
      d$reason_field <- reason_label(d$reason, d$field)
      shiny::tagList(
        shiny::plotOutput(session$ns("ingest_rejects_chart"), height = 200),
        shiny::plotOutput(session$ns("ingest_rejects_daily"), height = 160),
        table_wrap(html_table(d, id = session$ns("ingest-rejects-table"),
                              columns = c(reason_field = "Reason (field)", rejects = "All time",
                                          rejects_24h = "Last 24 h"),
                              formatters = list(rejects = fmt_int, rejects_24h = fmt_int)))
      )
    })
    output$ingest_rejects_chart <- shiny::renderPlot(rejects_bars(state()$ingest, DASH_COLORS[3]))
    output$ingest_rejects_daily <- shiny::renderPlot({
      d <- state()$ingest_daily
      shiny::req(nrow(d) > 0)
      ggplot2::ggplot(d, ggplot2::aes(day, rejects)) +
        ggplot2::geom_col(fill = DASH_COLORS[3], width = 0.8) +
        ggplot2::scale_y_continuous(labels = scales::label_comma()) +
        ggplot2::labs(x = "day received (UTC)", y = "rejected") + theme_dash()
    })

    output$rejects <- shiny::renderUI({
      d <- state()$rejects
      if (nrow(d) == 0) return(shiny::div(class = "dash-none", "No rejected lines: every line loaded."))
      shiny::tagList(
        shiny::plotOutput(session$ns("rejects_chart"), height = 200),
        table_wrap(html_table(d, id = session$ns("rejects-table"),
                              columns = c(reason = "Reason", rejects = "All time", rejects_24h = "Last 24 h"),
                              formatters = list(rejects = fmt_int, rejects_24h = fmt_int)))
      )
    })
    output$rejects_chart <- shiny::renderPlot(rejects_bars(state()$rejects, DASH_COLORS[4]))

    output$quarantine <- shiny::renderUI({
      d <- state()$quarantine
      shiny::validate(shiny::need(nrow(d) > 0, "No quarantined files: every raw file loaded."))
      d$error <- short_error(d$error_class, d$error_message)
      d$first_seen <- format(d$first_seen_at, "%m-%d %H:%M", tz = "UTC")
      d$last_seen <- format(d$last_seen_at, "%m-%d %H:%M", tz = "UTC")
      table_wrap(html_table(d, id = session$ns("quarantine-table"),
                            columns = c(object_key = "File", error = "Error", first_seen = "First seen",
                                        last_seen = "Last tried", attempts = "Attempts"),
                            formatters = list(attempts = fmt_int)))
    })

    output$anomalies <- shiny::renderUI({
      latest <- state()$anomaly_latest
      d <- state()$anomalies
      if (nrow(latest) == 0) return(shiny::div(class = "dash-none", "No hour checked yet."))
      checked <- sprintf("Last hour checked: %s, %s checks with enough volume, %s flagged.",
                         format(latest$hour, "%Y-%m-%d %H:00 UTC", tz = "UTC"), fmt_int(latest$checks),
                         fmt_int(latest$flags))
      if (nrow(d) == 0) return(shiny::div(class = "dash-none", checked, "No anomaly in the last 7 days."))
      d$when <- format(d$hour, "%m-%d %H:00", tz = "UTC")
      d$metric <- anomaly_metric(d$check_name, d$subject)
      d$shown <- anomaly_value(d$check_name, d$observed)
      d$usual <- anomaly_value(d$check_name, d$expected)
      d$bound <- anomaly_value(d$check_name, ifelse(d$direction == "high", d$upper_bound, d$lower_bound))
      shiny::tagList(
        shiny::p(class = "text-muted small", checked),
        table_wrap(html_table(d, id = session$ns("anomalies-table"),
                              columns = c(when = "Hour (UTC)", metric = "Metric", direction = "Direction",
                                          shown = "Observed", usual = "Expected", bound = "Bound",
                                          reason = "Reason"),
                              class = "table table-sm dash-table anomalies"))
      )
    })

    output$runs <- shiny::renderUI({
      d <- state()$runs
      shiny::validate(shiny::need(nrow(d) > 0, "The ETL has not run yet."))
      d$started <- format(d$started_at, "%m-%d %H:%M", tz = "UTC")
      d$message[is.na(d$message)] <- ""
      table_wrap(html_table(d, id = session$ns("runs-table"),
                            columns = c(run_id = "Run", started = "Started", status = "Status", trigger = "Trigger",
                                        files_loaded = "Files", events_loaded = "Events", duplicates = "Duplicates",
                                        rejects = "Rejects", duration_s = "Seconds", message = "Message"),
                            class = "table table-sm dash-table runs",
                            formatters = list(files_loaded = fmt_int, events_loaded = fmt_int, duplicates = fmt_int,
                                              rejects = fmt_int)))
    })
  })
}
