# Product engagement dashboard.

products_ui <- function(id) {
  ns <- shiny::NS(id)
  shiny::tagList(
    shiny::uiOutput(ns("empty")),
    shiny::uiOutput(ns("callout")),
    shiny::fluidRow(
      shiny::column(6, section_card(
        "Top products",
        shiny::selectInput(ns("metric"), NULL, choices = stats::setNames(names(PRODUCT_METRICS), PRODUCT_METRICS)),
        shiny::plotOutput(ns("top_chart"), height = 320)
      )),
      shiny::column(6, section_card(
        "By category or brand",
        shiny::radioButtons(ns("group_by"), NULL, inline = TRUE, choices = c("Category" = "category", "Brand" = "brand")),
        shiny::plotOutput(ns("group_chart"), height = 320)
      ))
    ),
    section_card("All products (sortable, searchable)", DT::DTOutput(ns("table")))
  )
}

products_server <- function(id, filters, q) {
  shiny::moduleServer(id, function(input, output, session) {
    products <- shiny::reactive(product_table(q, filters()))
    has_data <- shiny::reactive(nrow(products()) > 0)

    output$empty <- shiny::renderUI(if (!has_data()) empty_state())

    output$callout <- shiny::renderUI({
      shiny::req(has_data())
      low <- head(low_cart_products(products()), 5)
      if (nrow(low) == 0) return(NULL)
      overall <- safe_ratio(sum(products()$add_to_carts), sum(products()$views))
      callout(
        sprintf("Many views, few add-to-carts (overall add-to-cart rate %s)", fmt_pct(overall)),
        shiny::tags$ul(id = session$ns("low-cart-list"), lapply(seq_len(nrow(low)), function(i) {
          shiny::tags$li(`data-product-id` = low$product_id[i],
                         sprintf("%s (%s, %s): %s views, add-to-cart rate %s", low$product_name[i] %||% low$product_id[i],
                                 low$product_category[i], low$product_brand[i], fmt_int(low$views[i]),
                                 fmt_pct(low$cart_rate[i])))
        }))
      )
    })

    output$top_chart <- shiny::renderPlot({
      shiny::validate(shiny::need(has_data(), NO_DATA))
      metric <- input$metric %||% "views"
      d <- top_products(products(), metric)
      shiny::validate(shiny::need(nrow(d) > 0, "Not enough views to rank products by a rate."))
      d$label <- factor(substr(ifelse(is.na(d$product_name), d$product_id, d$product_name), 1, 38),
                        levels = rev(unique(substr(ifelse(is.na(d$product_name), d$product_id, d$product_name), 1, 38))))
      lab <- switch(metric, revenue = scales::label_dollar(), views = scales::label_comma(), scales::label_percent())
      ggplot2::ggplot(d, ggplot2::aes(label, .data[[metric]])) +
        ggplot2::geom_col(fill = DASH_COLORS[1], width = 0.7) + ggplot2::coord_flip() +
        ggplot2::scale_y_continuous(labels = lab) +
        ggplot2::labs(x = NULL, y = PRODUCT_METRICS[[metric]]) + theme_dash()
    })

    output$group_chart <- shiny::renderPlot({
      d <- product_groups(q, filters(), input$group_by %||% "category")
      shiny::validate(shiny::need(nrow(d) > 0, NO_DATA))
      d <- head(d, 12)
      d$segment <- factor(d$segment, levels = rev(d$segment))
      long <- rbind(data.frame(segment = d$segment, measure = "views", n = d$views),
                    data.frame(segment = d$segment, measure = "add to carts", n = d$add_to_carts),
                    data.frame(segment = d$segment, measure = "purchases", n = d$purchases))
      ggplot2::ggplot(long, ggplot2::aes(segment, n, fill = measure)) +
        ggplot2::geom_col(position = ggplot2::position_dodge(width = 0.85), width = 0.8) + ggplot2::coord_flip() +
        ggplot2::scale_fill_manual(values = DASH_COLORS, name = NULL) +
        ggplot2::scale_y_continuous(labels = scales::label_comma()) +
        ggplot2::labs(x = NULL, y = NULL) + theme_dash()
    })

    output$table <- DT::renderDT(server = FALSE, {
      d <- products()
      shown <- data.frame(
        Product = ifelse(is.na(d$product_name), d$product_id, d$product_name), ID = d$product_id,
        Category = d$product_category, Brand = d$product_brand, Views = d$views, `Add to carts` = d$add_to_carts,
        `Add-to-cart rate` = d$cart_rate, Purchases = d$purchases, `Purchase conversion` = d$purchase_conversion,
        Revenue = d$revenue, check.names = FALSE, stringsAsFactors = FALSE
      )
      DT::datatable(
        shown, rownames = FALSE, filter = "none", selection = "none", style = "default", class = "display compact",
        options = list(pageLength = 10, order = list(list(4, "desc")),
                       language = list(emptyTable = NO_DATA, zeroRecords = "No product matches the search."))
      ) |>
        DT::formatPercentage(c("Add-to-cart rate", "Purchase conversion"), 1) |>
        DT::formatCurrency("Revenue") |>
        DT::formatRound(c("Views", "Add to carts", "Purchases"), 0)
    })
  })
}
