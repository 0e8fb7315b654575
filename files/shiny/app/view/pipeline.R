# Pipeline health dashboard (not filtered: it describes the ETL, not the shop).

fmt_time <- function(t) if (length(t) == 0 || is.na(t)) "–" else format(t, "%Y-%m-%d %H:%M:%S UTC", tz = "UTC")

pipeline_ui <- function(id) {
  ns <- shiny::NS(id)
  shiny::tagList(
    shiny::uiOutput(ns("verdict")),
    shiny::uiOutput(ns("kpis")),
    shiny::fluidRow(
      shiny::column(5, section_card("Rejects by reason", shiny::plotOutput(ns("rejects_chart"), height = 260),
                                    shiny::uiOutput(ns("rejects")))),
      shiny::column(7, section_card("Recent ETL runs", shiny::uiOutput(ns("runs"))))
    ),
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
           runs = recent_runs(q), quarantined = quarantine_count(q), quarantine = quarantined_files(q))
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
        kpi_card("rejects_total", "Rejected lines (all time)", fmt_int(s$totals$rejects), s$totals$rejects),
        kpi_card("freshness", "Newest event age", fmt_duration(s$fresh$age_seconds), s$fresh$age_seconds,
                 level = fresh_level),
        kpi_card("quarantined", "Quarantined files", fmt_int(s$quarantined), s$quarantined,
                 level = if (s$quarantined > 0) "bad" else "ok")
      )
    })

    output$rejects_chart <- shiny::renderPlot({
      d <- state()$rejects
      shiny::validate(shiny::need(nrow(d) > 0, "No rejected lines: every line loaded."))
      d$reason <- factor(d$reason, levels = rev(d$reason))
      ggplot2::ggplot(d, ggplot2::aes(reason, rejects)) +
        ggplot2::geom_col(fill = DASH_COLORS[4], width = 0.7) + ggplot2::coord_flip() +
        ggplot2::scale_y_continuous(labels = scales::label_comma()) +
        ggplot2::labs(x = NULL, y = "rejected lines") + theme_dash()
    })

    output$rejects <- shiny::renderUI({
      d <- state()$rejects
      shiny::validate(shiny::need(nrow(d) > 0, "No rejected lines: every line loaded."))
      html_table(d, id = session$ns("rejects-table"),
                 columns = c(reason = "Reason", rejects = "All time", rejects_24h = "Last 24 h"),
                 formatters = list(rejects = fmt_int, rejects_24h = fmt_int))
    })

    output$quarantine <- shiny::renderUI({
      d <- state()$quarantine
      shiny::validate(shiny::need(nrow(d) > 0, "No quarantined files: every raw file loaded."))
      d$error <- short_error(d$error_class, d$error_message)
      d$first_seen <- format(d$first_seen_at, "%m-%d %H:%M", tz = "UTC")
      d$last_seen <- format(d$last_seen_at, "%m-%d %H:%M", tz = "UTC")
      html_table(d, id = session$ns("quarantine-table"),
                 columns = c(object_key = "File", error = "Error", first_seen = "First seen",
                             last_seen = "Last tried", attempts = "Attempts"),
                 formatters = list(attempts = fmt_int))
    })

    output$runs <- shiny::renderUI({
      d <- state()$runs
      shiny::validate(shiny::need(nrow(d) > 0, "The ETL has not run yet."))
      d$started <- format(d$started_at, "%m-%d %H:%M", tz = "UTC")
      d$message[is.na(d$message)] <- ""
      html_table(d, id = session$ns("runs-table"),
                 columns = c(run_id = "Run", started = "Started", status = "Status", trigger = "Trigger",
                             files_loaded = "Files", events_loaded = "Events", duplicates = "Duplicates",
                             rejects = "Rejects", duration_s = "Seconds", message = "Message"), class = "table table-sm dash-table runs",
                 formatters = list(files_loaded = fmt_int, events_loaded = fmt_int, duplicates = fmt_int,
                                   rejects = fmt_int))
    })
  })
}
