# User journeys dashboard.

journeys_ui <- function(id) {
  ns <- shiny::NS(id)
  shiny::tagList(
    shiny::uiOutput(ns("empty")),
    shiny::fluidRow(
      shiny::column(6, section_card("Landing pages", shiny::plotOutput(ns("landing_chart"), height = 260),
                                    shiny::uiOutput(ns("landing")))),
      shiny::column(6, section_card("Exit pages", shiny::plotOutput(ns("exit_chart"), height = 260),
                                    shiny::uiOutput(ns("exit"))))
    ),
    section_card(
      "Next pages from a chosen page",
      shiny::selectizeInput(ns("from_page"), "From page (a landing page, or type any page path)", choices = NULL,
                            width = "420px", options = list(create = TRUE)),
      shiny::fluidRow(
        shiny::column(7, shiny::plotOutput(ns("flow"), height = 320)),
        shiny::column(5, shiny::uiOutput(ns("next_table")))
      )
    ),
    section_card(
      "Most common paths (first pages of a session)",
      shiny::selectInput(ns("n_pages"), "Pages per path", choices = 2:5, selected = 3, width = "160px"),
      shiny::uiOutput(ns("paths"))
    )
  )
}

share_table <- function(d, id, key, key_label, count, count_label) {
  html_table(d, id = id, columns = stats::setNames(c(key_label, count_label, "Share"), c(key, count, paste0(count, "_share"))),
             formatters = stats::setNames(list(fmt_int, fmt_pct), c(count, paste0(count, "_share"))))
}

bar_chart <- function(d, key, count, fill) {
  d <- head(d, 10)
  d[[key]] <- factor(d[[key]], levels = rev(d[[key]]))
  ggplot2::ggplot(d, ggplot2::aes(.data[[key]], .data[[count]])) +
    ggplot2::geom_col(fill = fill, width = 0.7) + ggplot2::coord_flip() +
    ggplot2::scale_y_continuous(labels = scales::label_comma()) +
    ggplot2::labs(x = NULL, y = "sessions") + theme_dash()
}

journeys_server <- function(id, filters, q) {
  shiny::moduleServer(id, function(input, output, session) {
    landing <- shiny::reactive(landing_pages(q, filters()))
    exits <- shiny::reactive(exit_pages(q, filters()))
    has_data <- shiny::reactive(nrow(landing()) > 0)

    output$empty <- shiny::renderUI(if (!has_data()) empty_state())

    output$landing_chart <- shiny::renderPlot({
      shiny::validate(shiny::need(has_data(), NO_DATA))
      bar_chart(landing(), "page", "sessions", DASH_COLORS[1])
    })
    output$landing <- shiny::renderUI({
      shiny::validate(shiny::need(has_data(), NO_DATA))
      share_table(landing(), session$ns("landing-table"), "page", "Landing page", "sessions", "Sessions")
    })
    output$exit_chart <- shiny::renderPlot({
      shiny::validate(shiny::need(nrow(exits()) > 0, NO_DATA))
      bar_chart(exits(), "page", "sessions", DASH_COLORS[4])
    })
    output$exit <- shiny::renderUI({
      shiny::validate(shiny::need(nrow(exits()) > 0, NO_DATA))
      share_table(exits(), session$ns("exit-table"), "page", "Exit page", "sessions", "Sessions")
    })

    # Page choices (the landing pages) follow the filters; the chosen page stays chosen, else the top landing page.
    shiny::observe({
      pages <- page_choices(q, filters())
      current <- shiny::isolate(input$from_page)
      selected <- if (!is.null(current) && nzchar(current)) current else if (length(pages)) pages[1] else character()
      shiny::updateSelectizeInput(session, "from_page", choices = unique(c(selected, pages)), selected = selected)
    })

    next_df <- shiny::reactive(next_pages(q, filters(), input$from_page))

    output$flow <- shiny::renderPlot({
      d <- next_df()
      shiny::validate(shiny::need(nrow(d) > 0, NO_DATA))
      lay <- flow_layout(d, input$from_page)
      ggplot2::ggplot(lay) +
        ggplot2::geom_segment(ggplot2::aes(x = x_from, y = y_from, xend = x_to, yend = y, linewidth = transitions),
                              colour = DASH_COLORS[1], alpha = 0.35, lineend = "round") +
        ggplot2::geom_label(ggplot2::aes(x = x_to, y = y, label = sprintf("%s  %s (%s)", next_page, fmt_int(transitions),
                                                                        fmt_pct(transitions_share))),
                            hjust = 0, size = 3.6, label.size = 0) +
        ggplot2::annotate("label", x = 0, y = 0.5, label = input$from_page, hjust = 1, size = 4, fontface = "bold") +
        ggplot2::scale_linewidth(range = c(1, 18), guide = "none") +
        ggplot2::scale_x_continuous(limits = c(-0.9, 2.9)) + ggplot2::scale_y_continuous(limits = c(0, 1)) +
        ggplot2::theme_void()
    })

    output$next_table <- shiny::renderUI({
      d <- next_df()
      shiny::validate(shiny::need(nrow(d) > 0, NO_DATA))
      share_table(d, session$ns("next-table"), "next_page", "Next page", "transitions", "Transitions")
    })

    output$paths <- shiny::renderUI({
      d <- common_paths(q, filters(), input$n_pages %||% 3)
      shiny::validate(shiny::need(nrow(d) > 0, NO_DATA))
      note <- if (isTRUE(attr(d, "capped"))) {
        sprintf("Based on the most recent %s sessions that started in the period.", fmt_int(attr(d, "sessions_considered")))
      } else {
        sprintf("Based on all %s sessions that started in the period.", fmt_int(attr(d, "sessions_considered")))
      }
      shiny::tagList(
        html_table(d, id = session$ns("paths-table"), columns = c(path = "Path", pages = "Pages", sessions = "Sessions"),
                   formatters = list(sessions = fmt_int, pages = fmt_int)),
        shiny::div(class = "dash-card-subtitle", `data-sessions` = attr(d, "sessions_considered"), note)
      )
    })
  })
}
