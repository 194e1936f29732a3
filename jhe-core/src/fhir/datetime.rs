//! FHIR date/time values: rendering instants and turning partial dates into time ranges.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};

/// Renders an instant as the original did (Python `isoformat()` of a UTC timestamp):
/// microseconds when not zero, offset `+00:00`, e.g. `2026-11-28T15:05:53.298020+00:00`.
pub fn format_instant(t: DateTime<Utc>) -> String {
    let micros = t.timestamp_subsec_micros();
    if micros == 0 {
        t.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()
    } else {
        format!("{}.{micros:06}+00:00", t.format("%Y-%m-%dT%H:%M:%S"))
    }
}

/// The time range `[start, end)` a (possibly partial) FHIR date or dateTime denotes:
/// `2025` is the whole year, `2025-03` the month, `2025-03-07` the day (UTC), a time the second
/// (or minute, or the given fraction). Search values may omit the time zone (UTC is assumed)
/// and the seconds. `None` when the text is not such a value.
pub fn range_of(text: &str) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let (start, end) = raw_range_of(text)?;
    Some((clamp(start), clamp(end)))
}

/// The earliest instant a search bound may name: `0000-01-01T00:00:00Z`.
pub fn min_instant() -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(0, 1, 1)
        .map(|d| Utc.from_utc_datetime(&d.and_time(NaiveTime::MIN)))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// The latest instant a search bound may name: `9999-12-31T23:59:59.999999Z`. Later bounds
/// (`le9999` ends in year 10000) would compare differently as text on SQLite and as timestamps
/// on PostgreSQL, so both backends get this one.
pub fn max_instant() -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(9999, 12, 31)
        .and_then(|d| d.and_hms_micro_opt(23, 59, 59, 999_999))
        .map(|t| Utc.from_utc_datetime(&t))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

fn clamp(t: DateTime<Utc>) -> DateTime<Utc> {
    t.clamp(min_instant(), max_instant())
}

/// `("2025", "03")` from `2025-03` (four and two ASCII digits), else `None`.
fn year_month(text: &str) -> Option<(&str, &str)> {
    let (year, month) = text.split_once('-')?;
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    (year.len() == 4 && month.len() == 2 && digits(year) && digits(month)).then_some((year, month))
}

fn raw_range_of(text: &str) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let text = text.trim();
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let day = |d: NaiveDate| Utc.from_utc_datetime(&d.and_time(NaiveTime::MIN));
    match text.len() {
        4 if digits(text) => {
            let year: i32 = text.parse().ok()?;
            let start = NaiveDate::from_ymd_opt(year, 1, 1)?;
            let end = NaiveDate::from_ymd_opt(year.checked_add(1)?, 1, 1)?;
            Some((day(start), day(end)))
        }
        7 if year_month(text).is_some() => {
            let (year, month) = year_month(text)?;
            let year: i32 = year.parse().ok()?;
            let month: u32 = month.parse().ok()?;
            let start = NaiveDate::from_ymd_opt(year, month, 1)?;
            let end = if month == 12 {
                NaiveDate::from_ymd_opt(year.checked_add(1)?, 1, 1)?
            } else {
                NaiveDate::from_ymd_opt(year, month.checked_add(1)?, 1)?
            };
            Some((day(start), day(end)))
        }
        10 => {
            let d = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
            Some((day(d), day(d.succ_opt()?)))
        }
        _ => date_time_range(text),
    }
}

fn date_time_range(text: &str) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    if !text.contains('T') {
        return None;
    }
    // With an offset (Z or ±hh:mm).
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        // FHIR (like ISO 8601 in practice) allows offsets from -12:00 to +14:00.
        if t.offset().local_minus_utc().abs() > 14 * 3600 {
            return None;
        }
        let t = t.with_timezone(&Utc);
        return Some((t, t.checked_add_signed(precision_of(text))?));
    }
    // Minutes only, with an offset: add ":00" before the zone.
    let (local, zone) = split_zone(text);
    let with_seconds = if local.len() == 16 {
        format!("{local}:00")
    } else {
        local.to_string()
    };
    let naive = NaiveDateTime::parse_from_str(&with_seconds, "%Y-%m-%dT%H:%M:%S%.f").ok()?;
    let offset_seconds = match zone {
        None | Some("Z") => 0,
        Some(z) => {
            let sign = if z.starts_with('-') { -1 } else { 1 };
            let (h, m) = z.get(1..)?.split_once(':')?;
            let (h, m) = (h.parse::<i64>().ok()?, m.parse::<i64>().ok()?);
            if h > 14 || m > 59 || (h == 14 && m > 0) {
                return None;
            }
            sign * (h * 3600 + m * 60)
        }
    };
    let t = Utc
        .from_utc_datetime(&naive)
        .checked_sub_signed(Duration::seconds(offset_seconds))?;
    let step = if local.len() == 16 {
        Duration::minutes(1)
    } else {
        precision_of(local)
    };
    Some((t, t.checked_add_signed(step)?))
}

fn split_zone(text: &str) -> (&str, Option<&str>) {
    if let Some(local) = text.strip_suffix('Z') {
        return (local, Some("Z"));
    }
    // An offset is the last '+' or '-' after the 'T'.
    if let Some(t) = text.find('T')
        && let Some(pos) = text.get(t..).and_then(|after| after.rfind(['+', '-']))
        && let Some(pos) = t.checked_add(pos)
        && let (Some(local), Some(zone)) = (text.get(..pos), text.get(pos..))
    {
        return (local, Some(zone));
    }
    (text, None)
}

/// The precision of a time value: one second, or one unit of its last fractional digit.
fn precision_of(text: &str) -> Duration {
    let (local, _) = split_zone(text);
    match local.split_once('.') {
        Some((_, fraction)) => {
            let n = fraction
                .bytes()
                .take_while(u8::is_ascii_digit)
                .count()
                .min(9);
            let exp = u32::try_from(9 - n).unwrap_or(0);
            Duration::nanoseconds(10_i64.pow(exp))
        }
        None => Duration::seconds(1),
    }
}

/// The start of the range of a FHIR date/dateTime (see [`range_of`]).
pub fn start_of(text: &str) -> Option<DateTime<Utc>> {
    range_of(text).map(|(start, _)| start)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn instants_render_like_python() {
        assert_eq!(
            format_instant(utc("2026-11-28T15:05:53.298020Z")),
            "2026-11-28T15:05:53.298020+00:00"
        );
        assert_eq!(
            format_instant(utc("2026-11-28T15:05:53Z")),
            "2026-11-28T15:05:53+00:00"
        );
        assert_eq!(
            format_instant(utc("2026-11-28T15:05:53.000000789Z")),
            "2026-11-28T15:05:53+00:00"
        );
    }

    #[test]
    fn partial_dates_are_ranges() {
        assert_eq!(
            range_of("2025"),
            Some((utc("2025-01-01T00:00:00Z"), utc("2026-01-01T00:00:00Z")))
        );
        assert_eq!(
            range_of("2025-12"),
            Some((utc("2025-12-01T00:00:00Z"), utc("2026-01-01T00:00:00Z")))
        );
        assert_eq!(
            range_of("2025-02-28"),
            Some((utc("2025-02-28T00:00:00Z"), utc("2025-03-01T00:00:00Z")))
        );
        assert_eq!(
            range_of("2025-02-28T10:00:00+02:00"),
            Some((utc("2025-02-28T08:00:00Z"), utc("2025-02-28T08:00:01Z")))
        );
        assert_eq!(
            range_of("2025-02-28T10:00"),
            Some((utc("2025-02-28T10:00:00Z"), utc("2025-02-28T10:01:00Z")))
        );
        assert_eq!(
            range_of("2025-02-28T10:00:00.5Z"),
            Some((utc("2025-02-28T10:00:00.5Z"), utc("2025-02-28T10:00:00.6Z")))
        );
        assert_eq!(
            range_of("2025-02-28T10:00:00-05:00"),
            Some((utc("2025-02-28T15:00:00Z"), utc("2025-02-28T15:00:01Z")))
        );
        for bad in [
            "yesterday",
            "2025-13",
            "2025-02-30",
            "",
            "20250101",
            "262143-12-31T23:59:59-14:00",
            "2025-01-01T00:00:00+99:99",
        ] {
            assert_eq!(range_of(bad), None, "{bad}");
        }
    }

    #[test]
    fn multibyte_text_is_not_a_date_and_does_not_panic() {
        for bad in [
            "123\u{e9}45",
            "\u{e9}\u{e9}\u{e9}-1",
            "2025-\u{e9}1",
            "2025-01-01T\u{e9}+01:00",
        ] {
            assert_eq!(range_of(bad), None, "{bad}");
        }
    }

    #[test]
    fn bounds_are_clamped_to_four_digit_years() {
        assert_eq!(range_of("9999").map(|r| r.1), Some(max_instant()));
        assert_eq!(range_of("9999-12").map(|r| r.1), Some(max_instant()));
        assert_eq!(range_of("9999-12-31").map(|r| r.1), Some(max_instant()));
        assert_eq!(range_of("0000").map(|r| r.0), Some(min_instant()));
        assert_eq!(
            range_of("0000-01-01T00:00:00+01:00").map(|r| r.0),
            Some(min_instant())
        );
    }

    #[test]
    fn offsets_beyond_fourteen_hours_are_rejected() {
        assert!(range_of("2025-01-01T00:00:00+14:00").is_some());
        assert!(range_of("2025-01-01T00:00:00-12:00").is_some());
        for bad in [
            "2025-01-01T00:00:00+14:01",
            "2025-01-01T00:00:00-15:00",
            "2025-01-01T00:00:00+23:59",
            "2025-01-01T00:00+14:30",
        ] {
            assert_eq!(range_of(bad), None, "{bad}");
        }
    }

    proptest::proptest! {
        #[test]
        fn range_of_never_panics_and_is_ordered(text in "\\PC{0,40}") {
            if let Some((start, end)) = range_of(&text) {
                proptest::prop_assert!(start <= end);
                proptest::prop_assert!(start >= min_instant() && end <= max_instant());
            }
        }

        #[test]
        fn range_of_date_shaped_text(text in "[0-9]{4}(-[0-9]{2}(-[0-9]{2}(T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\\.[0-9]{1,9})?)?(Z|[+-][0-9]{2}:[0-9]{2})?)?)?)?") {
            if let Some((start, end)) = range_of(&text) {
                proptest::prop_assert!(start <= end);
                proptest::prop_assert!(start >= min_instant() && end <= max_instant());
            }
        }
    }
}
