# Product engagement: views, add-to-cart rate, purchase conversion and revenue per product, by category and
# brand, and the products with many views but few add-to-carts. Reads dw.agg_daily_product; with a channel, device
# or segment filter, dw.agg_daily_product_dims (the same measures per the event's session's channel group, device
# category and segment: docs/warehouse.md, "Products by channel, device and segment"), the product's name still
# from dw.agg_daily_product.
# add-to-cart rate = add_to_carts / views; purchase conversion = purchases / views.

SQL_PRODUCTS <- "
SELECT product_id, max(product_name) AS product_name, product_category, product_brand,
       sum(views) AS views, sum(add_to_carts) AS add_to_carts, sum(purchases) AS purchases,
       sum(units) AS units, sum(revenue) AS revenue, sum(viewing_sessions) AS viewing_sessions
  FROM dw.agg_daily_product
 WHERE activity_date BETWEEN $1::date AND $2::date
   AND ($3 = '(all)' OR product_category = $3) AND ($4 = '(all)' OR product_brand = $4)
   AND ($5 = '(all)' OR user_login_state = $5)
 GROUP BY product_id, product_category, product_brand"

SQL_PRODUCT_GROUPS <- list(
  category = "
SELECT product_category AS segment, sum(views) AS views, sum(add_to_carts) AS add_to_carts,
       sum(purchases) AS purchases, sum(revenue) AS revenue
  FROM dw.agg_daily_product
 WHERE activity_date BETWEEN $1::date AND $2::date
   AND ($3 = '(all)' OR product_category = $3) AND ($4 = '(all)' OR product_brand = $4)
   AND ($5 = '(all)' OR user_login_state = $5)
 GROUP BY product_category",
  brand = "
SELECT product_brand AS segment, sum(views) AS views, sum(add_to_carts) AS add_to_carts,
       sum(purchases) AS purchases, sum(revenue) AS revenue
  FROM dw.agg_daily_product
 WHERE activity_date BETWEEN $1::date AND $2::date
   AND ($3 = '(all)' OR product_category = $3) AND ($4 = '(all)' OR product_brand = $4)
   AND ($5 = '(all)' OR user_login_state = $5)
 GROUP BY product_brand"
)

# With a channel, device or segment filter: $1..$5 as above, $6 channel group, $7 device category, $8 segment, each
# '(all)' for any: the table holds every combination with '(all)' (sql/dw/0047), so a filter is one key.
PRODUCT_DIMS_WHERE <- "channel_group = $6 AND device_category = $7 AND segment = $8
   AND activity_date BETWEEN $1::date AND $2::date
   AND ($3 = '(all)' OR product_category = $3) AND ($4 = '(all)' OR product_brand = $4)
   AND ($5 = '(all)' OR user_login_state = $5)"
SQL_PRODUCTS_DIMS <- paste0("
WITH d AS (
  SELECT product_id, product_category, product_brand, sum(views) AS views, sum(add_to_carts) AS add_to_carts,
         sum(purchases) AS purchases, sum(units) AS units, sum(revenue) AS revenue,
         sum(viewing_sessions) AS viewing_sessions
    FROM dw.agg_daily_product_dims
   WHERE ", PRODUCT_DIMS_WHERE, "
   GROUP BY product_id, product_category, product_brand
), n AS (
  SELECT product_id, product_category, product_brand, max(product_name) AS product_name
    FROM dw.agg_daily_product
   WHERE activity_date BETWEEN $1::date AND $2::date
     AND ($3 = '(all)' OR product_category = $3) AND ($4 = '(all)' OR product_brand = $4)
   GROUP BY product_id, product_category, product_brand
)
SELECT d.product_id, n.product_name, d.product_category, d.product_brand, d.views, d.add_to_carts, d.purchases,
       d.units, d.revenue, d.viewing_sessions
  FROM d LEFT JOIN n USING (product_id, product_category, product_brand)")
SQL_PRODUCT_GROUPS_DIMS <- lapply(c(category = "product_category", brand = "product_brand"), function(col) paste0("
SELECT ", col, " AS segment, sum(views) AS views, sum(add_to_carts) AS add_to_carts, sum(purchases) AS purchases,
       sum(revenue) AS revenue
  FROM dw.agg_daily_product_dims
 WHERE ", PRODUCT_DIMS_WHERE, "
 GROUP BY ", col))

SQL_FILTER_CHOICES <- "
SELECT 'category' AS kind, product_category AS value FROM (
  SELECT DISTINCT product_category FROM dw.agg_daily_product WHERE activity_date >= $1::date) c
UNION ALL
SELECT 'brand', product_brand FROM (
  SELECT DISTINCT product_brand FROM dw.agg_daily_product WHERE activity_date >= $1::date) b
ORDER BY 1, 2"

product_params <- function(f) list(f$start, f$end, f$category, f$brand, f$login_state)
product_dims_params <- function(f) c(product_params(f), list(dims_value(f, "channel"), dims_value(f, "device"),
                                                           dims_value(f, "segment")))

with_rates <- function(d) {
  d$cart_rate <- safe_ratio(d$add_to_carts, d$views)
  d$purchase_conversion <- safe_ratio(d$purchases, d$views)
  d
}

product_table <- function(q, f) {
  d <- if (dims_filtered(f)) q(SQL_PRODUCTS_DIMS, product_dims_params(f)) else q(SQL_PRODUCTS, product_params(f))
  if (nrow(d) == 0) return(with_rates(d))
  d <- with_rates(d)
  d[order(-d$views, d$product_id), ]
}

PRODUCT_METRICS <- c(views = "Views", cart_rate = "Add-to-cart rate",
                     purchase_conversion = "Purchase conversion", revenue = "Revenue")

# Top n by a metric; rates only rank products with at least min_views views (a 1-view 100% is noise).
top_products <- function(products, metric = "views", n = 10, min_views = 10) {
  if (!metric %in% names(PRODUCT_METRICS)) stop("unknown metric: ", metric, call. = FALSE)
  d <- products
  if (metric %in% c("cart_rate", "purchase_conversion")) d <- d[d$views >= min_views, ]
  d <- d[!is.na(d[[metric]]), ]
  head(d[order(-d[[metric]], -d$views, d$product_id), ], n)
}

product_groups <- function(q, f, by = c("category", "brand")) {
  by <- match.arg(by)
  d <- with_rates(if (dims_filtered(f)) q(SQL_PRODUCT_GROUPS_DIMS[[by]], product_dims_params(f)) else
    q(SQL_PRODUCT_GROUPS[[by]], product_params(f)))
  if (nrow(d) == 0) return(d)
  d[order(-d$views, d$segment), ]
}

# "Many views, few add-to-carts": at least the 75th percentile of views (and min_views), and an add-to-cart rate
# below half the rate of all products shown.
low_cart_products <- function(products, min_views = 10, rate_factor = 0.5) {
  if (nrow(products) == 0) return(products)
  overall <- safe_ratio(sum(products$add_to_carts), sum(products$views))
  if (is.na(overall)) return(products[0, ])
  threshold_views <- max(min_views, stats::quantile(products$views, 0.75, names = FALSE))
  d <- products[products$views >= threshold_views & products$cart_rate < rate_factor * overall, ]
  d[order(-d$views, d$product_id), ]
}

filter_choices <- function(q, since) {
  d <- q(SQL_FILTER_CHOICES, list(since))
  list(category = d$value[d$kind == "category"], brand = d$value[d$kind == "brand"])
}
