# Database access: one read-only connection per R process (Shiny serves sessions from one thread), reopened
# when it breaks. Every query goes through db_query(), which binds filter values as server-side parameters
# ($1, $2, ...; RPostgreSQL sends them with PQexecParams): values are never pasted into SQL text.

db_connect <- function(settings) {
  con <- DBI::dbConnect(
    RPostgreSQL::PostgreSQL(),
    host = settings$DW_HOST, port = settings$DW_PORT, dbname = settings$DW_NAME,
    user = settings$DW_USER, password = settings$DW_PASSWORD
  )
  # Read-only sessions (defence in depth on top of the SELECT-only role), UTC dates, bounded query time.
  for (stmt in c("SET default_transaction_read_only = on", "SET TIME ZONE 'UTC'",
                 "SET statement_timeout = '20s'", "SET jit = off", "SET work_mem = '64MB'",
                 "SET application_name = 'clickstream-dashboards'")) {
    DBI::dbExecute(con, stmt)
  }
  con
}

# Parameters are sent as text and cast in SQL ($1::date ...). NA would be sent as the string 'NA', so it is
# refused here: callers use explicit sentinels such as '(all)'.
bind_params <- function(params) {
  lapply(params, function(p) {
    if (length(p) != 1) stop("query parameters must be single values", call. = FALSE)
    if (is.na(p)) stop("query parameters must not be NA", call. = FALSE)
    if (inherits(p, "Date")) return(format(p, "%Y-%m-%d"))
    if (inherits(p, "POSIXt")) return(format(p, "%Y-%m-%dT%H:%M:%OS3Z", tz = "UTC"))
    as.character(p)
  })
}

# A query function bound to a connection holder: q(sql, params) -> data.frame.
# The logic layer only ever sees q, so unit tests can hand it a fake.
make_query_fn <- function(settings, connect = db_connect) {
  holder <- new.env()
  holder$con <- NULL
  run <- function(sql, params) {
    if (is.null(holder$con)) holder$con <- connect(settings)
    # RPostgreSQL reports a failing statement as a warning ("Could not create execute") and a NULL result
    # (the server's message goes to stderr, i.e. the app log): turn that into an error, never into "no data".
    res <- withCallingHandlers(
      if (length(params) == 0) DBI::dbGetQuery(holder$con, sql) else DBI::dbGetQuery(holder$con, sql, params),
      warning = function(w) {
        if (grepl("Could not create execute", conditionMessage(w), fixed = TRUE)) invokeRestart("muffleWarning")
      })
    if (is.null(res)) stop("a warehouse query failed (the server's message is in the app log)", call. = FALSE)
    res
  }
  function(sql, params = list()) {
    params <- bind_params(params)
    tryCatch(run(sql, params), error = function(e) {
      # A broken connection (DW restarted, network blip): reconnect once and retry. A failing query on a
      # healthy connection is re-raised as it is.
      alive <- !is.null(holder$con) && isTRUE(tryCatch(
        nrow(DBI::dbGetQuery(holder$con, "SELECT 1")) == 1, error = function(e2) FALSE))
      if (alive) stop(e)
      if (!is.null(holder$con)) try(DBI::dbDisconnect(holder$con), silent = TRUE)
      holder$con <- NULL
      run(sql, params)
    })
  }
}
