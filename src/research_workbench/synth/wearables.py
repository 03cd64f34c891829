"""Wearable data (Fitbit-like) for the participants in the wearables study (about 6 %).

Each wearer has one wear period of 14-60 days after enrolment (ending before death, deactivation and the data
cutoff) with, per day: an activity summary, four heart-rate zone summaries, a device sync row and (most nights)
a main sleep with its stage intervals. The last ``WEARABLE_INTRADAY_DAYS`` days also have minute-level heart
rate (every worn minute) and steps (every minute with steps); for those days the daily summaries are computed
from the minutes, so they agree exactly.

Invariants (pinned by tests): summed intraday steps = the day's ``steps``; heart-rate minutes per zone =
``minute_in_zone``; for every night, ``minute_deep + minute_light + minute_rem = minute_asleep``,
``minute_wake = minute_awake``, ``minute_in_bed = minute_asleep + minute_awake + minute_after_wakeup`` and the
sleep-level intervals of each level sum to the summary's minutes, back to back from bedtime.
"""

from __future__ import annotations

import numpy as np

from . import config as C
from .frame import Frame, strings
from .participants import People

MPD = C.MICROS_PER_DAY
MPM = 60_000_000
ZONES = ["Out of Range", "Fat Burn", "Cardio", "Peak"]
PATTERN = np.array([1, 0, 1, 2, 3, 1, 0, 2, 1, 3])  # deep=0, light=1, rem=2, wake=3 (order within a night)
LEVEL_NAMES = ["deep", "light", "rem", "wake"]
MODELS = [("Charge 5", "TRACKER"), ("Inspire 3", "TRACKER"), ("Versa 3", "WATCH"), ("Sense 2", "WATCH"), ("Pixel Watch", "WATCH")]


def _split(rng: np.random.Generator, totals: np.ndarray, parts: int) -> np.ndarray:
    """Split each integer total into ``parts`` positive integers summing to it (totals >= parts)."""
    w = rng.uniform(0.5, 1.5, (len(totals), parts))
    raw = np.floor(totals[:, None] * w / w.sum(axis=1, keepdims=True)).astype(np.int64)
    raw = np.maximum(raw, 1)
    raw[:, -1] = totals - raw[:, :-1].sum(axis=1)
    return raw


def wearables(rng: np.random.Generator, people: People) -> dict[str, Frame]:
    p = people
    rows = np.flatnonzero(p.has_wear)
    w = len(rows)
    if w == 0:
        return {}
    end_avail = np.minimum.reduce([np.full(w, C.DATA_CUTOFF),
                                   np.where(p.death[rows] != C.NULL_DAY, p.death[rows] - 1, C.DATA_CUTOFF),
                                   np.where(p.deactivated[rows] != C.NULL_DAY, p.deactivated[rows] - 1, C.DATA_CUTOFF)])
    days = rng.integers(C.WEARABLE_MIN_DAYS, C.WEARABLE_MAX_DAYS + 1, w)
    room = np.maximum(end_avail - p.enrol[rows] - days - 30, 0)
    start = p.enrol[rows] + 30 + (rng.random(w) * room).astype(np.int64)
    age = p.age_enrol[rows] + (start - p.enrol[rows]) / 365.25
    steps_mean = np.exp(rng.normal(np.log(7800) - 0.025 * (p.bmi[rows] - 27) - 0.008 * (age - 50), 0.35))
    rest_hr = np.clip(rng.normal(66, 7, w), 48, 95)
    hr_max = 220 - age
    weight = p.weight[rows]
    bmr = 10 * weight + 6.25 * p.height[rows] - 5 * age + np.where(p.female[rows], -161, 5)
    pid = p.person_id[rows]

    # ---- one row per (wearer, day) --------------------------------------------------------------------------
    wi = np.repeat(np.arange(w), days)
    day = start[wi] + (np.arange(len(wi)) - np.repeat(np.cumsum(days) - days, days))
    T = len(wi)
    intraday = day >= (start + days - C.WEARABLE_INTRADAY_DAYS)[wi]

    # sleep (the main sleep ending on `day`)
    has_sleep = rng.random(T) < 0.92
    asleep = np.clip(np.round(rng.normal(410, 55, T)), 180, 660).astype(np.int64)
    wake = np.clip(np.round(rng.normal(45, 15, T)), 6, 150).astype(np.int64)
    after = rng.integers(0, 11, T)
    deep = np.round(asleep * np.clip(rng.normal(0.15, 0.03, T), 0.05, 0.3)).astype(np.int64)
    rem = np.round(asleep * np.clip(rng.normal(0.22, 0.04, T), 0.08, 0.35)).astype(np.int64)
    light = asleep - deep - rem
    in_bed = asleep + wake + after
    bedtime = (day - 1) * 1440 + 22 * 60 + np.clip(np.round(rng.normal(60, 50, T)), -120, 240).astype(np.int64)  # minutes
    wake_time = bedtime + in_bed  # minute the participant gets up

    # daily activity (replaced by minute-level sums on intraday days)
    steps = np.round(steps_mean[wi] * np.exp(rng.normal(0, 0.35, T))).astype(np.int64)
    very = np.round(steps / 1000 * rng.uniform(1.0, 3.5, T)).astype(np.int64)
    fairly = np.round(steps / 1000 * rng.uniform(1.0, 2.5, T)).astype(np.int64)
    lightly = np.round(110 + steps / 45 * rng.uniform(0.7, 1.3, T)).astype(np.int64)
    offwrist = rng.integers(30, 120, T)
    worn = 1440 - offwrist
    sleep_minutes_today = np.where(has_sleep, np.clip(wake_time - day * 1440, 0, 1440), 0)
    awake_worn = np.maximum(worn - sleep_minutes_today, 0)
    active = very + fairly + lightly
    scale = np.where(active > awake_worn, awake_worn / np.maximum(active, 1), 1.0)
    very, fairly = np.floor(very * scale).astype(np.int64), np.floor(fairly * scale).astype(np.int64)
    lightly = np.floor(lightly * scale).astype(np.int64)
    sedentary = awake_worn - very - fairly - lightly
    peak = np.round(very * 0.3).astype(np.int64)
    cardio = np.round(very * 0.7 + fairly * 0.3).astype(np.int64)
    fat = np.round(fairly * 0.7 + lightly * 0.4).astype(np.int64)
    oor = np.maximum(worn - peak - cardio - fat, 0)

    # ---- minute level for the intraday days --------------------------------------------------------------
    idays = np.flatnonzero(intraday)
    hr_frames, step_frames = [], []
    if len(idays):
        m = np.arange(1440)
        minute_abs = day[idays, None] * 1440 + m[None, :]
        asleep_min = has_sleep[idays, None] & (minute_abs < wake_time[idays, None])
        # the next night (sleep_date = day + 1) starts this evening, if it is within the wear period
        nxt = np.minimum(idays + 1, T - 1)
        same = (wi[nxt] == wi[idays]) & (nxt != idays)
        asleep_min |= (same & has_sleep[nxt])[:, None] & (minute_abs >= bedtime[nxt, None])
        off_start = np.where(has_sleep[idays], np.clip(wake_time[idays] - day[idays] * 1440, 0, 1300), 7 * 60) + 20
        off = (m[None, :] >= off_start[:, None]) & (m[None, :] < (off_start + offwrist[idays])[:, None])
        worn_min = ~off
        awake = worn_min & ~asleep_min
        p_act = np.clip(steps_mean[wi[idays]] / 22000, 0.05, 0.6)
        active = awake & (rng.random((len(idays), 1440)) < p_act[:, None])
        smin = np.where(active, np.clip(np.round(rng.gamma(2.0, 18.0, (len(idays), 1440))), 1, 190), 0).astype(np.int64)
        hrm = rest_hr[wi[idays], None] + np.where(asleep_min, -6.0, 4.0) + 0.35 * smin + rng.normal(0, 4, (len(idays), 1440))
        hrm = np.clip(np.round(hrm), 38, 205).astype(np.int64)
        # summaries of these days from the minutes
        steps[idays] = smin.sum(axis=1)
        very[idays] = (smin >= 100).sum(axis=1)
        fairly[idays] = ((smin >= 60) & (smin < 100)).sum(axis=1)
        lightly[idays] = ((smin >= 1) & (smin < 60)).sum(axis=1)
        sedentary[idays] = (awake & (smin == 0)).sum(axis=1)
        mx = hr_max[wi[idays], None]
        zone = np.where(hrm >= 0.85 * mx, 3, np.where(hrm >= 0.7 * mx, 2, np.where(hrm >= 0.5 * mx, 1, 0)))
        counts = [((zone == z) & worn_min).sum(axis=1) for z in range(4)]
        oor[idays], fat[idays], cardio[idays], peak[idays] = counts
        r_, c_ = np.nonzero(worn_min)
        hr_frames.append({
            "person_id": pid[wi[idays]][r_],
            "datetime": (day[idays][r_] * 1440 + c_) * MPM,
            "heart_rate_value": hrm[r_, c_],
        })
        r_, c_ = np.nonzero(smin > 0)
        step_frames.append({
            "person_id": pid[wi[idays]][r_],
            "datetime": (day[idays][r_] * 1440 + c_) * MPM,
            "steps": smin[r_, c_].astype(np.float64),
        })

    floors = rng.poisson(steps / 900.0)
    activity_cal = np.round(0.045 * steps + 6 * very + 4 * fairly + 2 * lightly)
    src = lambda k: strings(np.zeros(k, dtype=np.int64), ["fitbit"])  # noqa: E731
    out: dict[str, Frame] = {}
    out["activity_summary"] = {
        "person_id": pid[wi], "date": day.astype(np.int32), "activity_calories": activity_cal,
        "calories_bmr": np.round(bmr[wi]), "calories_out": np.round(bmr[wi]) + activity_cal,
        "elevation": np.round(floors * 3.048, 2), "fairly_active_minutes": fairly.astype(np.float64), "floors": floors,
        "lightly_active_minutes": lightly.astype(np.float64), "marginal_calories": np.round(0.55 * activity_cal),
        "sedentary_minutes": sedentary.astype(np.float64), "steps": steps, "very_active_minutes": very.astype(np.float64),
        "src_id": src(T),
    }
    zone_minutes = np.stack([oor, fat, cardio, peak], axis=1)
    bounds = np.stack([np.full(w, 30.0), 0.5 * hr_max, 0.7 * hr_max, 0.85 * hr_max, np.full(w, 220.0)], axis=1)
    kcal = np.array([1.2, 5.5, 8.5, 11.0])
    zi = np.tile(np.arange(4), T)
    ti = np.repeat(np.arange(T), 4)
    out["heart_rate_summary"] = {
        "person_id": pid[wi][ti], "date": day[ti].astype(np.int32), "zone_name": strings(zi, ZONES),
        "min_heart_rate": np.round(bounds[wi[ti], zi]).astype(np.int64),
        "max_heart_rate": np.round(bounds[wi[ti], zi + 1]).astype(np.int64) - np.where(zi < 3, 1, 0),
        "minute_in_zone": zone_minutes[ti, zi], "calorie_count": np.round(zone_minutes[ti, zi] * kcal[zi] * weight[wi[ti]] / 75, 2),
        "src_id": src(4 * T),
    }
    s = np.flatnonzero(has_sleep)
    S = len(s)
    out["sleep_daily_summary"] = {
        "person_id": pid[wi[s]], "sleep_date": day[s].astype(np.int32), "is_main_sleep": strings(np.zeros(S, dtype=np.int64), ["true"]),
        "minute_in_bed": in_bed[s], "minute_asleep": asleep[s], "minute_after_wakeup": after[s], "minute_awake": wake[s],
        "minute_restless": np.zeros(S, dtype=np.int64), "minute_deep": deep[s], "minute_light": light[s], "minute_rem": rem[s],
        "minute_wake": wake[s], "src_id": src(S),
    }
    # sleep levels: each level's total split over its slots in PATTERN, laid back to back from bedtime
    totals = {0: deep[s], 1: light[s], 2: rem[s], 3: wake[s]}
    durations = np.zeros((S, len(PATTERN)), dtype=np.int64)
    for level in range(4):
        slots = np.flatnonzero(PATTERN == level)
        durations[:, slots] = _split(rng, totals[level], len(slots))
    offsets = np.cumsum(durations, axis=1) - durations
    starts = bedtime[s, None] + offsets
    L = len(PATTERN)
    out["sleep_level"] = {
        "person_id": np.repeat(pid[wi[s]], L), "sleep_date": np.repeat(day[s], L).astype(np.int32),
        "is_main_sleep": strings(np.zeros(S * L, dtype=np.int64), ["true"]),
        "level": strings(np.tile(PATTERN, S), LEVEL_NAMES), "start_datetime": (starts * MPM).ravel(),
        "duration_in_min": durations.ravel().astype(np.float64), "src_id": src(S * L),
    }
    out["heart_rate_intraday"] = hr_frames[0] if hr_frames else {}
    if out["heart_rate_intraday"]:
        out["heart_rate_intraday"]["src_id"] = src(len(out["heart_rate_intraday"]["person_id"]))
    out["steps_intraday"] = step_frames[0] if step_frames else {}
    if out["steps_intraday"]:
        out["steps_intraday"]["src_id"] = src(len(out["steps_intraday"]["person_id"]))
    model = rng.integers(0, len(MODELS), w)
    battery = rng.integers(15, 101, T)
    device_ids = [f"{(int(x) * 2654435761) % (1 << 32):08x}-{(int(x) * 40503) % (1 << 16):04x}" for x in pid]
    out["device"] = {
        "person_id": pid[wi], "device_id": strings(wi, device_ids), "device_date": day.astype(np.int32),
        "battery": strings(np.where(battery > 60, 0, np.where(battery > 25, 1, 2)), ["High", "Medium", "Low"]),
        "battery_level": strings(battery - 15, [str(v) for v in range(15, 101)]),
        "device_version": strings(model[wi], [m[0] for m in MODELS]),
        "device_type": strings(model[wi], [m[1] for m in MODELS]),
        "last_sync_time": day * MPD + rng.integers(6 * 60, 23 * 60, T) * MPM,
        "src_id": src(T),
    }
    out["wear_study"] = {
        "person_id": pid, "resultsconsent_wear": strings(np.zeros(w, dtype=np.int64), ["Yes"]),
        "wear_consent_start_date": np.maximum(start - rng.integers(1, 30, w), p.enrol[rows]).astype(np.int32),
    }
    return out
