# Conversion funnel dashboard.

STEP_LABELS <- c(view_item = "View item", add_to_cart = "Add to cart", begin_checkout = "Begin checkout",
                 purchase = "Purchase")

funnel_ui <- function(id) {
  ns <- shiny::NS(id)
  shiny::tagList(
    shiny::uiOutput(ns("products_note")),
    shiny::uiOutput(ns("empty")),
    shiny::fluidRow(
      shiny::column(6, section_card("Funnel (sessions reaching each step)", shiny::plotOutput(ns("chart"), height = 280))),
      shiny::column(6, section_card("Steps, conversion and drop-off", shiny::uiOutput(ns("steps"))))
    ),
    shiny::fluidRow(
      shiny::column(6, section_card(
        "Split",
        shiny::radioButtons(ns("split_by"), NULL, inline = TRUE,
                            choices = c("Category" = "category", "Brand" = "brand", "Login state" = "login_state",
                                        "Channel" = "channel", "Device" = "device", "Segment" = "segment")),
        shiny::plotOutput(ns("split_chart"), height = 260),
        shiny::uiOutput(ns("split_table"))
      )),
      shiny::column(6, section_card("Overall conversion by day (purchase / view item sessions)",
                                    shiny::plotOutput(ns("trend"), height = 260)))
    )
  )
}

funnel_server <- function(id, filters, q) {
  shiny::moduleServer(id, function(input, output, session) {
    counts <- shiny::reactive(funnel_totals(q, filters()))
    steps <- shiny::reactive(funnel_steps(counts()))
    has_data <- shiny::reactive(funnel_has_data(counts()))

    output$empty <- shiny::renderUI(if (!has_data()) empty_state())
    # category/brand with a channel/device/segment filter, or a split by channel/device/segment (logic/funnel.R)
    output$products_note <- shiny::renderUI({
      f <- filters()
      by <- input$split_by %||% "category"
      if (funnel_ignores_products(f) || (by %in% DIMS && (f$category != ALL || f$brand != ALL))) {
        callout("Category and brand are not applied",
                shiny::div(class = "products-not-applied",
                           "Counts by channel, device or segment are over every product: clear the channel, device ",
                           "and segment filters (and split by category, brand or login state) to filter by product."))
      } else if (dims_filtered(f) && by %in% c("category", "brand")) {
        callout("No split by category or brand",
                shiny::div("With a channel, device or segment filter the funnel splits by login state, channel, ",
                           "device or segment."))
      }
    })

    output$chart <- shiny::renderPlot({
      shiny::validate(shiny::need(has_data(), NO_DATA))
      d <- steps()
      d$label <- factor(STEP_LABELS[d$step], levels = rev(STEP_LABELS))
      ggplot2::ggplot(d, ggplot2::aes(label, sessions)) +
        ggplot2::geom_col(fill = DASH_COLORS[1], width = 0.7) +
        ggplot2::geom_text(ggplot2::aes(label = paste0(fmt_int(sessions), "  (", fmt_pct(overall_conversion), ")")),
                           hjust = -0.05, size = 4) +
        ggplot2::coord_flip() +
        ggplot2::scale_y_continuous(labels = scales::label_comma(), expand = ggplot2::expansion(mult = c(0, 0.35))) +
        ggplot2::labs(x = NULL, y = "sessions") + theme_dash()
    })

    output$steps <- shiny::renderUI({
      shiny::validate(shiny::need(has_data(), NO_DATA))
      d <- steps()
      d$label <- STEP_LABELS[d$step]
      html_table(d, id = session$ns("steps-table"),
                 columns = c(label = "Step", sessions = "Sessions", step_conversion = "From previous step",
                             overall_conversion = "Overall", drop_off = "Drop-off", drop_off_rate = "Drop-off rate"),
                 formatters = list(sessions = fmt_int, step_conversion = fmt_pct, overall_conversion = fmt_pct,
                                   drop_off = fmt_int, drop_off_rate = fmt_pct))
    })

    split <- shiny::reactive(funnel_split(q, filters(), input$split_by %||% "category"))

    output$split_chart <- shiny::renderPlot({
      d <- split()
      shiny::validate(shiny::need(nrow(d) > 0 && sum(d$view_item_sessions) > 0, NO_DATA))
      d <- head(d, 12)
      long <- do.call(rbind, lapply(FUNNEL_STEPS, function(s) {
        data.frame(segment = d$segment, step = STEP_LABELS[[s]], sessions = d[[paste0(s, "_sessions")]])
      }))
      long$segment <- factor(long$segment, levels = rev(d$segment))
      long$step <- factor(long$step, levels = STEP_LABELS)
      ggplot2::ggplot(long, ggplot2::aes(segment, sessions, fill = step)) +
        ggplot2::geom_col(position = ggplot2::position_dodge(width = 0.85), width = 0.8) +
        ggplot2::coord_flip() + ggplot2::scale_fill_manual(values = DASH_COLORS, name = NULL) +
        ggplot2::scale_y_continuous(labels = scales::label_comma()) +
        ggplot2::labs(x = NULL, y = "sessions") + theme_dash()
    })

    output$split_table <- shiny::renderUI({
      d <- split()
      shiny::validate(shiny::need(nrow(d) > 0, NO_DATA))
      html_table(d, id = session$ns("split-table"),
                 columns = c(segment = "Segment", view_item_sessions = "View item", add_to_cart_sessions = "Add to cart",
                             begin_checkout_sessions = "Checkout", purchase_sessions = "Purchase",
                             overall_conversion = "Overall conversion"),
                 formatters = list(view_item_sessions = fmt_int, add_to_cart_sessions = fmt_int,
                                   begin_checkout_sessions = fmt_int, purchase_sessions = fmt_int,
                                   overall_conversion = fmt_pct))
    })

    output$trend <- shiny::renderPlot({
      d <- funnel_trend(q, filters())
      shiny::validate(shiny::need(nrow(d) > 0 && sum(d$view_item_sessions) > 0, NO_DATA))
      ggplot2::ggplot(d, ggplot2::aes(activity_date, overall_conversion)) +
        ggplot2::geom_line(colour = DASH_COLORS[2], linewidth = 1) +
        ggplot2::geom_point(colour = DASH_COLORS[2], size = 2.5) +
        ggplot2::scale_y_continuous(labels = scales::label_percent(), limits = c(0, NA)) +
        ggplot2::labs(x = "day (UTC)", y = "overall conversion") + theme_dash()
    })
  })
}
