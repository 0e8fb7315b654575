-- One label for a session without acquisition (issue 25; docs/warehouse.md, "Acquisition"): a session written before
-- migration 0031 has no channel group, source, medium or campaign (NULL in dw.sessions). The aggregates now count it
-- under channel group 'Unassigned' (clickstream_etl.acquisition.UNASSIGNED: GA4's name for a session no channel rule
-- matches) and source, medium and campaign '(not set)' (acquisition.NOT_SET), as dw.agg_daily_attribution always
-- has (rules.SQL's {unassigned} / {not_set}). Before, dw.agg_daily_acquisition said '(not set)' and
-- dw.agg_hourly_dims / dw.agg_dims_members '(unknown)' for the channel group: those rows are moved to 'Unassigned',
-- added to a row that already holds that key. No channel rule yields '(not set)' or '(unknown)', so only such
-- sessions' rows move. The device category keeps '(unknown)' (a device, not an acquisition).

INSERT INTO dw.agg_daily_acquisition AS a
    SELECT activity_date, user_login_state, 'Unassigned', source, medium, campaign, sessions, engaged_sessions,
           converted_sessions, first_visit_sessions, revenue
      FROM dw.agg_daily_acquisition WHERE channel_group = '(not set)'
    ON CONFLICT (activity_date, user_login_state, channel_group, source, medium, campaign) DO UPDATE SET
      sessions = a.sessions + excluded.sessions, engaged_sessions = a.engaged_sessions + excluded.engaged_sessions,
      converted_sessions = a.converted_sessions + excluded.converted_sessions,
      first_visit_sessions = a.first_visit_sessions + excluded.first_visit_sessions,
      revenue = a.revenue + excluded.revenue;
DELETE FROM dw.agg_daily_acquisition WHERE channel_group = '(not set)';

INSERT INTO dw.agg_hourly_dims AS a
    SELECT activity_hour, activity_date, user_login_state, 'Unassigned', device_category, segment, events, page_views,
           sessions, converted_sessions, revenue, view_item_sessions, add_to_cart_sessions, begin_checkout_sessions,
           purchase_sessions
      FROM dw.agg_hourly_dims WHERE channel_group = '(unknown)'
    ON CONFLICT (activity_hour, user_login_state, channel_group, device_category, segment) DO UPDATE SET
      events = a.events + excluded.events, page_views = a.page_views + excluded.page_views,
      sessions = a.sessions + excluded.sessions, converted_sessions = a.converted_sessions + excluded.converted_sessions,
      revenue = a.revenue + excluded.revenue, view_item_sessions = a.view_item_sessions + excluded.view_item_sessions,
      add_to_cart_sessions = a.add_to_cart_sessions + excluded.add_to_cart_sessions,
      begin_checkout_sessions = a.begin_checkout_sessions + excluded.begin_checkout_sessions,
      purchase_sessions = a.purchase_sessions + excluded.purchase_sessions;
DELETE FROM dw.agg_hourly_dims WHERE channel_group = '(unknown)';

INSERT INTO dw.agg_dims_members AS a
    SELECT client_id, activity_hour, user_login_state, 'Unassigned', device_category, segment, events, page_views,
           sessions, converted_sessions, revenue, view_item_sessions, add_to_cart_sessions, begin_checkout_sessions,
           purchase_sessions
      FROM dw.agg_dims_members WHERE channel_group = '(unknown)'
    ON CONFLICT (client_id, activity_hour, user_login_state, channel_group, device_category, segment) DO UPDATE SET
      events = a.events + excluded.events, page_views = a.page_views + excluded.page_views,
      sessions = a.sessions + excluded.sessions, converted_sessions = a.converted_sessions + excluded.converted_sessions,
      revenue = a.revenue + excluded.revenue, view_item_sessions = a.view_item_sessions + excluded.view_item_sessions,
      add_to_cart_sessions = a.add_to_cart_sessions + excluded.add_to_cart_sessions,
      begin_checkout_sessions = a.begin_checkout_sessions + excluded.begin_checkout_sessions,
      purchase_sessions = a.purchase_sessions + excluded.purchase_sessions;
DELETE FROM dw.agg_dims_members WHERE channel_group = '(unknown)';
