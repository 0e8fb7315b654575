# Acquisition: sessions per GA4 channel group and per source / medium / campaign from dw.agg_daily_acquisition (the
# session's own acquisition: its landing event's; docs/warehouse.md, "Acquisition", "Daily acquisition"), beside
# the purchases and revenue credited to them by the chosen attribution model from dw.agg_daily_attribution
# (docs/warehouse.md, "Attribution"): both per UTC day, the sessions by the day they started, the credit by the day
# of the purchase. The login state applies to the sessions' columns; attribution is per client across its sessions,
# so it has no login state, and category and brand do not apply to either.
# The channel filter narrows the rows to that channel group (sessions and credit). The device and segment filters
# apply to the sessions (dw.agg_daily_acquisition_dims: the session's device and its client's segment as of the day
# before it; docs/warehouse.md, "Acquisition by device and segment") and to the credit (dw.agg_daily_attribution_dims:
# the credit the model gave to touch sessions of that device and segment, the touch session's segment by the same
# rule; docs/warehouse.md, "Attribution by device and segment"), still on the day of the purchase.

ATTRIBUTION_MODELS <- c("Last non-direct touch" = "last_non_direct", "First touch" = "first_touch",
                        "Linear" = "linear")
DEFAULT_MODEL <- "last_non_direct"
CAMPAIGN_LIMIT <- 25

# $1, $2: the period; $3: login state; $4: the model; $5: the channel group ('(all)': every one). A channel with
# credit but no session in the period (its sessions came before it) is shown too.
SQL_ACQ_CHANNELS <- "
WITH s AS (
  SELECT channel_group, sum(sessions) AS sessions, sum(engaged_sessions) AS engaged_sessions,
         sum(converted_sessions) AS converted_sessions, sum(first_visit_sessions) AS new_sessions,
         sum(revenue) AS session_revenue
    FROM dw.agg_daily_acquisition
   WHERE activity_date BETWEEN $1::date AND $2::date AND ($3 = '(all)' OR user_login_state = $3)
     AND ($5 = '(all)' OR channel_group = $5)
   GROUP BY channel_group
), a AS (
  SELECT channel_group, sum(purchases) AS purchases, sum(revenue) AS revenue
    FROM dw.agg_daily_attribution
   WHERE activity_date BETWEEN $1::date AND $2::date AND model = $4 AND ($5 = '(all)' OR channel_group = $5)
   GROUP BY channel_group
)
SELECT channel_group, coalesce(s.sessions, 0) AS sessions, coalesce(s.engaged_sessions, 0) AS engaged_sessions,
       coalesce(s.converted_sessions, 0) AS converted_sessions, coalesce(s.new_sessions, 0) AS new_sessions,
       coalesce(s.session_revenue, 0) AS session_revenue, coalesce(a.purchases, 0) AS purchases,
       coalesce(a.revenue, 0) AS revenue
  FROM s FULL JOIN a USING (channel_group)
 ORDER BY sessions DESC, revenue DESC, channel_group"

# The same per source / medium / campaign (with the channel group they fall in), the $5 with the most sessions; $6:
# the channel group.
SQL_ACQ_CAMPAIGNS <- "
WITH s AS (
  SELECT channel_group, source, medium, campaign, sum(sessions) AS sessions,
         sum(engaged_sessions) AS engaged_sessions, sum(converted_sessions) AS converted_sessions,
         sum(first_visit_sessions) AS new_sessions, sum(revenue) AS session_revenue
    FROM dw.agg_daily_acquisition
   WHERE activity_date BETWEEN $1::date AND $2::date AND ($3 = '(all)' OR user_login_state = $3)
     AND ($6 = '(all)' OR channel_group = $6)
   GROUP BY channel_group, source, medium, campaign
), a AS (
  SELECT channel_group, source, medium, campaign, sum(purchases) AS purchases, sum(revenue) AS revenue
    FROM dw.agg_daily_attribution
   WHERE activity_date BETWEEN $1::date AND $2::date AND model = $4 AND ($6 = '(all)' OR channel_group = $6)
   GROUP BY channel_group, source, medium, campaign
)
SELECT channel_group, source, medium, campaign, coalesce(s.sessions, 0) AS sessions,
       coalesce(s.engaged_sessions, 0) AS engaged_sessions, coalesce(s.converted_sessions, 0) AS converted_sessions,
       coalesce(s.new_sessions, 0) AS new_sessions, coalesce(s.session_revenue, 0) AS session_revenue,
       coalesce(a.purchases, 0) AS purchases, coalesce(a.revenue, 0) AS revenue
  FROM s FULL JOIN a USING (channel_group, source, medium, campaign)
 ORDER BY sessions DESC, revenue DESC, channel_group, source, medium, campaign
 LIMIT $5::int"

# A model name from the chooser -> a known model (anything else: the default).
clean_model <- function(model) {
  if (is.null(model) || length(model) != 1 || is.na(model) || !(model %in% ATTRIBUTION_MODELS)) DEFAULT_MODEL else
    as.character(model)
}

# Rates of a channel or campaign table: engagement rate and session conversion rate (of its sessions), and the
# credited revenue per session.
acq_rates <- function(d) {
  for (col in c("sessions", "engaged_sessions", "converted_sessions", "new_sessions", "session_revenue",
                "purchases", "revenue")) d[[col]] <- as.numeric(d[[col]])
  d$engagement_rate <- safe_ratio(d$engaged_sessions, d$sessions)
  d$conversion_rate <- safe_ratio(d$converted_sessions, d$sessions)
  d$revenue_per_session <- safe_ratio(d$revenue, d$sessions)
  d
}

# With a device or segment filter: the sessions' columns from dw.agg_daily_acquisition_dims and the credit from
# dw.agg_daily_attribution_dims ($1, $2: the period; $3: login state (the sessions only); $4: channel group; $5:
# device category; $6: segment; '(all)': any; $7: the model), per channel group or, with $8 rows at most, per
# source / medium / campaign. A channel with credit but no session under the filters is shown too.
SQL_ACQ_DIMS_WHERE <- "activity_date BETWEEN $1::date AND $2::date AND ($3 = '(all)' OR user_login_state = $3)
     AND ($4 = '(all)' OR channel_group = $4) AND ($5 = '(all)' OR device_category = $5)
     AND ($6 = '(all)' OR segment = $6)"
SQL_ATT_DIMS_WHERE <- "activity_date BETWEEN $1::date AND $2::date AND model = $7
     AND ($4 = '(all)' OR channel_group = $4) AND ($5 = '(all)' OR device_category = $5)
     AND ($6 = '(all)' OR segment = $6)"
SQL_ACQ_CHANNELS_DIMS <- paste0("
WITH s AS (
  SELECT channel_group, sum(sessions) AS sessions, sum(engaged_sessions) AS engaged_sessions,
         sum(converted_sessions) AS converted_sessions, sum(first_visit_sessions) AS new_sessions,
         sum(revenue) AS session_revenue
    FROM dw.agg_daily_acquisition_dims
   WHERE ", SQL_ACQ_DIMS_WHERE, "
   GROUP BY channel_group
), a AS (
  SELECT channel_group, sum(purchases) AS purchases, sum(revenue) AS revenue
    FROM dw.agg_daily_attribution_dims
   WHERE ", SQL_ATT_DIMS_WHERE, "
   GROUP BY channel_group
)
SELECT channel_group, coalesce(s.sessions, 0) AS sessions, coalesce(s.engaged_sessions, 0) AS engaged_sessions,
       coalesce(s.converted_sessions, 0) AS converted_sessions, coalesce(s.new_sessions, 0) AS new_sessions,
       coalesce(s.session_revenue, 0) AS session_revenue, coalesce(a.purchases, 0) AS purchases,
       coalesce(a.revenue, 0) AS revenue
  FROM s FULL JOIN a USING (channel_group)
 ORDER BY sessions DESC, revenue DESC, channel_group")
SQL_ACQ_CAMPAIGNS_DIMS <- paste0("
WITH s AS (
  SELECT channel_group, source, medium, campaign, sum(sessions) AS sessions,
         sum(engaged_sessions) AS engaged_sessions, sum(converted_sessions) AS converted_sessions,
         sum(first_visit_sessions) AS new_sessions, sum(revenue) AS session_revenue
    FROM dw.agg_daily_acquisition_dims
   WHERE ", SQL_ACQ_DIMS_WHERE, "
   GROUP BY channel_group, source, medium, campaign
), a AS (
  SELECT channel_group, source, medium, campaign, sum(purchases) AS purchases, sum(revenue) AS revenue
    FROM dw.agg_daily_attribution_dims
   WHERE ", SQL_ATT_DIMS_WHERE, "
   GROUP BY channel_group, source, medium, campaign
)
SELECT channel_group, source, medium, campaign, coalesce(s.sessions, 0) AS sessions,
       coalesce(s.engaged_sessions, 0) AS engaged_sessions, coalesce(s.converted_sessions, 0) AS converted_sessions,
       coalesce(s.new_sessions, 0) AS new_sessions, coalesce(s.session_revenue, 0) AS session_revenue,
       coalesce(a.purchases, 0) AS purchases, coalesce(a.revenue, 0) AS revenue
  FROM s FULL JOIN a USING (channel_group, source, medium, campaign)
 ORDER BY sessions DESC, revenue DESC, channel_group, source, medium, campaign
 LIMIT $8::int")

# Whether a device or segment filter is set: the sessions and the credit then come from the *_dims aggregates.
acq_dims_filtered <- function(f) dims_value(f, "device") != ALL || dims_value(f, "segment") != ALL

acq_dims_params <- function(f, model) list(f$start, f$end, f$login_state, dims_value(f, "channel"),
                                           dims_value(f, "device"), dims_value(f, "segment"), clean_model(model))

acquisition_channels <- function(q, f, model = DEFAULT_MODEL) {
  if (acq_dims_filtered(f)) return(acq_rates(q(SQL_ACQ_CHANNELS_DIMS, acq_dims_params(f, model))))
  acq_rates(q(SQL_ACQ_CHANNELS, list(f$start, f$end, f$login_state, clean_model(model), dims_value(f, "channel"))))
}

acquisition_campaigns <- function(q, f, model = DEFAULT_MODEL, limit = CAMPAIGN_LIMIT) {
  if (acq_dims_filtered(f)) return(acq_rates(q(SQL_ACQ_CAMPAIGNS_DIMS, c(acq_dims_params(f, model), list(limit)))))
  acq_rates(q(SQL_ACQ_CAMPAIGNS, list(f$start, f$end, f$login_state, clean_model(model), limit,
                                      dims_value(f, "channel"))))
}

# The channel table's totals row (the rates of the sums).
acquisition_totals <- function(d) {
  sums <- vapply(c("sessions", "engaged_sessions", "converted_sessions", "new_sessions", "session_revenue",
                   "purchases", "revenue"), function(col) sum(as.numeric(d[[col]])), 0)
  acq_rates(cbind(data.frame(channel_group = "Total"), as.data.frame(as.list(sums))))
}
