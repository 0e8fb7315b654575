# Acquisition dashboard: sessions, engagement and conversion per channel group and per source / medium / campaign,
# with the purchases and revenue credited to them by the attribution model chosen.

acquisition_ui <- function(id) {
  ns <- shiny::NS(id)
  shiny::tagList(
    shiny::uiOutput(ns("dims_note")),
    shiny::uiOutput(ns("empty")),
    shiny::div(class = "acq-model",
               shiny::radioButtons(ns("model"), "Attribution model (purchases and revenue)",
                                   choices = ATTRIBUTION_MODELS, selected = DEFAULT_MODEL, inline = TRUE)),
    shiny::uiOutput(ns("kpis")),
    section_card(
      "Channels",
      subtitle = paste("Sessions by the GA4 default channel group of their landing page (UTM tags, then the",
                       "referrer); purchases and revenue credited by the chosen model over each client's sessions,",
                       "on the day of the purchase. The login state applies to the sessions; the channel, the",
                       "device and the segment to both (the credit given to touch sessions of that device and",
                       "segment); category and brand do not apply."),
      shiny::plotOutput(ns("channels_plot"), height = 300),
      shiny::uiOutput(ns("channels"))
    ),
    section_card(
      "Campaigns",
      subtitle = sprintf("Source / medium / campaign, the %d with the most sessions in the period.", CAMPAIGN_LIMIT),
      shiny::uiOutput(ns("campaigns"))
    )
  )
}

ACQ_COLUMNS <- c(sessions = "Sessions", new_sessions = "New clients", engagement_rate = "Engagement rate",
                 conversion_rate = "Session conversion", purchases = "Purchases (model)",
                 revenue = "Revenue (model)", revenue_per_session = "Revenue / session")
ACQ_FORMATTERS <- list(sessions = fmt_int, new_sessions = fmt_int, engagement_rate = fmt_pct,
                       conversion_rate = fmt_pct, purchases = function(x) formatC(x, format = "f", digits = 1,
                                                                                  big.mark = ","),
                       revenue = fmt_money, revenue_per_session = fmt_money)

acquisition_server <- function(id, filters, q) {
  shiny::moduleServer(id, function(input, output, session) {
    # channel, device and segment: narrow the sessions and the credit (logic/acquisition.R)
    output$dims_note <- shiny::renderUI(NULL)
    model <- shiny::reactive(clean_model(input$model))
    channels <- shiny::reactive(acquisition_channels(q, filters(), model()))
    campaigns <- shiny::reactive(acquisition_campaigns(q, filters(), model()))
    has_data <- shiny::reactive(nrow(channels()) > 0)

    output$empty <- shiny::renderUI(if (!has_data()) empty_state())

    output$kpis <- shiny::renderUI({
      shiny::req(has_data())
      t <- acquisition_totals(channels())
      label <- names(ATTRIBUTION_MODELS)[ATTRIBUTION_MODELS == model()]
      kpi_row(
        kpi_card("sessions", "Sessions", fmt_int(t$sessions), t$sessions),
        kpi_card("engagement_rate", "Engagement rate", fmt_pct(t$engagement_rate), t$engagement_rate),
        kpi_card("conversion_rate", "Session conversion", fmt_pct(t$conversion_rate), t$conversion_rate),
        kpi_card("purchases", paste0("Purchases (", label, ")"), fmt_int(t$purchases), t$purchases),
        kpi_card("revenue", paste0("Revenue (", label, ")"), fmt_money(t$revenue), t$revenue)
      )
    })

    output$channels_plot <- shiny::renderPlot({
      d <- channels()
      shiny::validate(shiny::need(nrow(d) > 0, NO_DATA))
      d$channel_group <- factor(d$channel_group, levels = rev(d$channel_group))
      long <- data.frame(channel = d$channel_group, series = "share of sessions",
                         v = safe_ratio(d$sessions, sum(d$sessions)))
      long <- rbind(long, data.frame(channel = d$channel_group, series = "share of credited revenue",
                                     v = safe_ratio(d$revenue, sum(d$revenue))))
      long$v[is.na(long$v)] <- 0
      ggplot2::ggplot(long, ggplot2::aes(v, channel, fill = series)) +
        ggplot2::geom_col(position = "dodge", width = 0.75) +
        ggplot2::scale_fill_manual(values = DASH_COLORS, name = NULL) +
        ggplot2::scale_x_continuous(labels = scales::label_percent()) +
        ggplot2::labs(x = NULL, y = NULL) + theme_dash()
    })

    output$channels <- shiny::renderUI({
      d <- channels()
      shiny::validate(shiny::need(nrow(d) > 0, NO_DATA))
      d <- rbind(d, acquisition_totals(d)[names(d)])
      table_wrap(html_table(d, id = session$ns("channels-table"),
                            columns = c(channel_group = "Channel group", ACQ_COLUMNS), formatters = ACQ_FORMATTERS))
    })

    output$campaigns <- shiny::renderUI({
      d <- campaigns()
      shiny::validate(shiny::need(nrow(d) > 0, NO_DATA))
      table_wrap(html_table(d, id = session$ns("campaigns-table"),
                            columns = c(source = "Source", medium = "Medium", campaign = "Campaign",
                                        channel_group = "Channel group", ACQ_COLUMNS),
                            formatters = ACQ_FORMATTERS))
    })
  })
}
