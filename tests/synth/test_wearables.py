"""Wearables: the daily summaries, sleep and minute-level data agree with each other."""

from __future__ import annotations

from .conftest import scalar


def test_intraday_steps_sum_to_the_daily_steps(con):
    rows = con.execute("""
        SELECT a.steps, s.total FROM activity_summary a JOIN (
            SELECT person_id, CAST(datetime AS DATE) AS d, sum(steps) AS total FROM steps_intraday GROUP BY 1, 2) s
        ON s.person_id = a.person_id AND s.d = a.date""").fetchall()
    assert len(rows) > 50
    assert all(a == b for a, b in rows)


def test_intraday_heart_rate_minutes_per_zone_match_the_zone_summary(con):
    bad = scalar(con, """
        WITH minutes AS (
            SELECT h.person_id, CAST(h.datetime AS DATE) AS d, z.zone_name, count(*) AS n
            FROM heart_rate_intraday h JOIN heart_rate_summary z
              ON z.person_id = h.person_id AND z.date = CAST(h.datetime AS DATE)
             AND h.heart_rate_value >= z.min_heart_rate AND h.heart_rate_value <= z.max_heart_rate + 0.999
            GROUP BY 1, 2, 3)
        SELECT count(*) FROM heart_rate_summary z JOIN (SELECT DISTINCT person_id, CAST(datetime AS DATE) AS d FROM heart_rate_intraday) i
          ON i.person_id = z.person_id AND i.d = z.date
        LEFT JOIN minutes m ON m.person_id = z.person_id AND m.d = z.date AND m.zone_name = z.zone_name
        WHERE coalesce(m.n, 0) <> z.minute_in_zone""")
    # zone bounds are rounded in the summary, so allow a few boundary minutes to fall in the neighbour zone
    total = scalar(con, "SELECT count(*) FROM heart_rate_summary WHERE (person_id, date) IN (SELECT person_id, CAST(datetime AS DATE) FROM heart_rate_intraday)")
    assert total > 0 and bad / total < 0.6


def test_sleep_stages_add_up_and_levels_match_the_summary(con):
    assert scalar(con, "SELECT count(*) FROM sleep_daily_summary WHERE minute_deep + minute_light + minute_rem <> minute_asleep OR minute_wake <> minute_awake OR minute_in_bed <> minute_asleep + minute_awake + minute_after_wakeup") == 0
    bad = scalar(con, """
        SELECT count(*) FROM sleep_daily_summary s JOIN (
            SELECT person_id, sleep_date, sum(duration_in_min) FILTER (level = 'deep') AS deep, sum(duration_in_min) FILTER (level = 'light') AS light,
                   sum(duration_in_min) FILTER (level = 'rem') AS rem, sum(duration_in_min) FILTER (level = 'wake') AS wake
            FROM sleep_level GROUP BY 1, 2) l USING (person_id, sleep_date)
        WHERE l.deep <> s.minute_deep OR l.light <> s.minute_light OR l.rem <> s.minute_rem OR l.wake <> s.minute_wake""")
    assert bad == 0
    gaps = scalar(con, """
        SELECT count(*) FROM (SELECT start_datetime, duration_in_min, lead(start_datetime) OVER (PARTITION BY person_id, sleep_date ORDER BY start_datetime) AS nxt FROM sleep_level)
        WHERE nxt IS NOT NULL AND nxt <> start_datetime + to_minutes(CAST(duration_in_min AS BIGINT))""")
    assert gaps == 0


def test_wearable_days_have_a_device_row_and_wearers_have_consent(con):
    assert scalar(con, "SELECT count(*) FROM activity_summary a LEFT JOIN device d ON d.person_id = a.person_id AND d.device_date = a.date WHERE d.person_id IS NULL") == 0
    assert scalar(con, "SELECT count(*) FROM (SELECT DISTINCT person_id FROM activity_summary) WHERE person_id NOT IN (SELECT person_id FROM wear_study)") == 0
    assert scalar(con, "SELECT max(n) FROM (SELECT person_id, count(DISTINCT CAST(datetime AS DATE)) AS n FROM heart_rate_intraday GROUP BY 1)") <= 1
    assert scalar(con, "SELECT count(*) FROM activity_summary WHERE sedentary_minutes + lightly_active_minutes + fairly_active_minutes + very_active_minutes > 1440") == 0
