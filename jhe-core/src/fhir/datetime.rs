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
    let text = text.trim();
    let bytes = text.as_bytes();
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let day = |d: NaiveDate| Utc.from_utc_datetime(&d.and_time(NaiveTime::MIN));
    match bytes.len() {
        4 if digits(text) => {
            let year: i32 = text.parse().ok()?;
            let start = NaiveDate::from_ymd_opt(year, 1, 1)?;
            let end = NaiveDate::from_ymd_opt(year + 1, 1, 1)?;
            Some((day(start), day(end)))
        }
        7 if digits(&text[..4]) && bytes[4] == b'-' && digits(&text[5..]) => {
            let year: i32 = text[..4].parse().ok()?;
            let month: u32 = text[5..].parse().ok()?;
            let start = NaiveDate::from_ymd_opt(year, month, 1)?;
            let end = if month == 12 {
                NaiveDate::from_ymd_opt(year + 1, 1, 1)?
            } else {
                NaiveDate::from_ymd_opt(year, month + 1, 1)?
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
            if h > 14 || m > 59 {
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
        && let Some(pos) = text[t..].rfind(['+', '-'])
    {
        let pos = t + pos;
        return (&text[..pos], Some(&text[pos..]));
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
}
