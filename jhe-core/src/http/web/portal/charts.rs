//! Chart data and server-side SVG charts of observations.
//!
//! Values come from the Open mHealth data point stored as the observation's attachment: each
//! member of its `body` shaped as a unit value (`{"value": <number>, "unit": "<text>"}`, the OMH
//! `unit-value` schema) is one measured quantity, so blood pressure gives two series (systolic
//! and diastolic), heart rate one. The time of a point is the observation's effective time, else
//! the data point's `effective_time_frame`, else the time it was stored.
//!
//! Charts are drawn with `plotters`' SVG backend. Its text is written as SVG `<text>` elements
//! (sizes estimated without font files), so charts render on a machine without system fonts; the
//! browser draws the labels with its own fonts.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use plotters::prelude::*;
use serde_json::Value;

use crate::domain::Observation;

/// One measured quantity over time.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartSeries {
    /// The quantity (`systolic_blood_pressure`, `heart_rate`, …).
    pub label: String,
    /// Its unit (`mmHg`, `beats/min`, …).
    pub unit: String,
    /// Points in time order.
    pub points: Vec<(DateTime<Utc>, f64)>,
}

/// The OMH `body` of a stored data point (the whole document when it has no `body`).
fn body_of(data: &str) -> Option<Value> {
    let doc: Value = serde_json::from_str(data).ok()?;
    Some(match doc.get("body") {
        Some(body) => body.clone(),
        None => doc,
    })
}

/// The unit values of a data point: `(quantity, value, unit)` in key order.
pub fn unit_values(data: &str) -> Vec<(String, f64, String)> {
    let Some(Value::Object(body)) = body_of(data) else {
        return Vec::new();
    };
    body.iter()
        .filter_map(|(key, v)| {
            let value = v.get("value")?.as_f64()?;
            let unit = v.get("unit")?.as_str()?;
            Some((key.clone(), value, unit.to_string()))
        })
        .collect()
}

/// A one-line summary of a data point for tables: `systolic blood pressure 115 mmHg, …`, or the
/// compact JSON when it has no unit values.
pub fn value_summary(data: &str) -> String {
    let values = unit_values(data);
    if values.is_empty() {
        return match body_of(data) {
            Some(body) => body.to_string(),
            None => data.to_string(),
        };
    }
    values
        .iter()
        .map(|(k, v, u)| format!("{} {} {u}", k.replace('_', " "), trim_number(*v)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn trim_number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

fn frame_time(body: &Value) -> Option<DateTime<Utc>> {
    let frame = body.get("effective_time_frame")?;
    let text = frame
        .get("date_time")
        .or_else(|| frame.pointer("/time_interval/start_date_time"))?
        .as_str()?;
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// When an observation happened (see the module documentation).
pub fn observed_at(observation: &Observation) -> DateTime<Utc> {
    observation
        .effective_start
        .or_else(|| body_of(&observation.value_attachment_data).and_then(|b| frame_time(&b)))
        .unwrap_or(observation.last_updated)
}

/// The series of a set of observations (of one patient and data type), each sorted by time and
/// limited to `[from, to)` when given.
pub fn chart_series(
    observations: &[Observation],
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Vec<ChartSeries> {
    let mut by_label: BTreeMap<String, ChartSeries> = BTreeMap::new();
    for observation in observations {
        let at = observed_at(observation);
        if from.is_some_and(|f| at < f) || to.is_some_and(|t| at >= t) {
            continue;
        }
        for (label, value, unit) in unit_values(&observation.value_attachment_data) {
            by_label
                .entry(label.clone())
                .or_insert_with(|| ChartSeries {
                    label,
                    unit,
                    points: Vec::new(),
                })
                .points
                .push((at, value));
        }
    }
    let mut out: Vec<ChartSeries> = by_label.into_values().collect();
    for series in &mut out {
        series.points.sort_by_key(|a| a.0);
    }
    out
}

/// The most time buckets a [`BucketedSeries`] keeps: past it, buckets double in width and merge,
/// so a chart over any number of observations takes bounded memory.
pub const MAX_BUCKETS: usize = 400;

/// The values that fell into one time bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Sum of the values (for the mean).
    pub sum: f64,
    /// How many values.
    pub count: u64,
}

impl Bucket {
    fn of(value: f64) -> Bucket {
        Bucket {
            min: value,
            max: value,
            sum: value,
            count: 1,
        }
    }

    fn merge(&mut self, other: &Bucket) {
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.sum += other.sum;
        self.count += other.count;
    }

    /// The mean of the bucket's values.
    pub fn mean(&self) -> f64 {
        self.sum / self.count.max(1) as f64
    }
}

/// One quantity over time, fed one value at a time (e.g. while streaming pages of a search):
/// values are kept per time bucket (min, mean, max), one second wide at first; when more than
/// [`MAX_BUCKETS`] buckets exist, the width doubles and neighbours merge. A chart of a few values
/// shows them as they are; a chart of millions shows [`MAX_BUCKETS`] bucket means at most.
#[derive(Debug, Clone, PartialEq)]
pub struct BucketedSeries {
    /// The quantity.
    pub label: String,
    /// Its unit.
    pub unit: String,
    width: i64,
    buckets: BTreeMap<i64, Bucket>,
}

impl BucketedSeries {
    /// An empty series.
    pub fn new(label: &str, unit: &str) -> BucketedSeries {
        BucketedSeries {
            label: label.to_string(),
            unit: unit.to_string(),
            width: 1,
            buckets: BTreeMap::new(),
        }
    }

    /// Adds a value at a time.
    pub fn add(&mut self, at: DateTime<Utc>, value: f64) {
        let key = at.timestamp().div_euclid(self.width);
        self.buckets
            .entry(key)
            .and_modify(|b| b.merge(&Bucket::of(value)))
            .or_insert_with(|| Bucket::of(value));
        while self.buckets.len() > MAX_BUCKETS {
            self.width = self.width.saturating_mul(2);
            let old = std::mem::take(&mut self.buckets);
            for (key, bucket) in old {
                self.buckets
                    .entry(key.div_euclid(2))
                    .and_modify(|b| b.merge(&bucket))
                    .or_insert(bucket);
            }
        }
    }

    /// The width of a bucket in seconds.
    pub fn width_seconds(&self) -> i64 {
        self.width
    }

    /// How many values were added.
    pub fn count(&self) -> u64 {
        self.buckets.values().map(|b| b.count).sum()
    }

    /// Whether some bucket holds more than one value (the chart then shows means).
    pub fn is_bucketed(&self) -> bool {
        self.buckets.values().any(|b| b.count > 1)
    }

    /// The buckets: (middle of the bucket, bucket), in time order.
    pub fn buckets(&self) -> Vec<(DateTime<Utc>, Bucket)> {
        self.buckets
            .iter()
            .filter_map(|(key, b)| {
                let start = key.checked_mul(self.width)?;
                let at = DateTime::from_timestamp(start.checked_add(self.width / 2)?, 0)?;
                Some((at, *b))
            })
            .collect()
    }

    /// The series to draw: the values (bucket means), and when bucketed also the bucket minima
    /// and maxima as `<label> min` / `<label> max`.
    pub fn chart_series(&self) -> Vec<ChartSeries> {
        let buckets = self.buckets();
        let line = |label: String, f: &dyn Fn(&Bucket) -> f64| ChartSeries {
            label,
            unit: self.unit.clone(),
            points: buckets.iter().map(|(at, b)| (*at, f(b))).collect(),
        };
        if !self.is_bucketed() {
            return vec![line(self.label.clone(), &Bucket::mean)];
        }
        vec![
            line(format!("{} mean", self.label), &Bucket::mean),
            line(format!("{} min", self.label), &|b: &Bucket| b.min),
            line(format!("{} max", self.label), &|b: &Bucket| b.max),
        ]
    }
}

/// A bucket width for people: `1 s`, `8 min`, `2.1 h`, `3.0 days`.
pub fn describe_width(seconds: i64) -> String {
    match seconds {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min", s / 60),
        s if s < 86_400 => format!("{:.1} h", s as f64 / 3600.0),
        s => format!("{:.1} days", s as f64 / 86_400.0),
    }
}

/// Observations per patient per day: patient id → day → count.
pub fn daily_counts(
    points: impl IntoIterator<Item = (crate::domain::Id, DateTime<Utc>)>,
) -> BTreeMap<crate::domain::Id, BTreeMap<NaiveDate, u64>> {
    let mut out: BTreeMap<_, BTreeMap<NaiveDate, u64>> = BTreeMap::new();
    for (patient, at) in points {
        *out.entry(patient)
            .or_default()
            .entry(at.date_naive())
            .or_default() += 1;
    }
    out
}

const COLOURS: [RGBColor; 4] = [
    RGBColor(11, 92, 173),
    RGBColor(196, 61, 22),
    RGBColor(30, 120, 60),
    RGBColor(120, 60, 160),
];

/// Draws the series as an SVG line chart (`width` × `height` px) with a time axis, a value axis
/// labelled with the unit, and a legend. `None` when there is nothing to draw.
pub fn render_svg(series: &[ChartSeries], width: u32, height: u32) -> Option<String> {
    let all: Vec<&(DateTime<Utc>, f64)> = series.iter().flat_map(|s| s.points.iter()).collect();
    let first = all.iter().map(|p| p.0).min()?;
    let last = all.iter().map(|p| p.0).max()?;
    let low = all.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let high = all.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
    let (first, last) = if first == last {
        (
            first - chrono::Duration::hours(1),
            last + chrono::Duration::hours(1),
        )
    } else {
        (first, last)
    };
    let pad = ((high - low).abs() * 0.1).max(1.0);
    let unit = series.first().map(|s| s.unit.clone()).unwrap_or_default();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        root.fill(&WHITE).ok()?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(first..last, (low - pad)..(high + pad))
            .ok()?;
        let span = last - first;
        chart
            .configure_mesh()
            .x_labels(5)
            .y_labels(6)
            .x_label_formatter(&|t: &DateTime<Utc>| {
                if span > chrono::Duration::days(2) {
                    t.format("%Y-%m-%d").to_string()
                } else {
                    t.format("%m-%d %H:%M").to_string()
                }
            })
            .y_desc(unit)
            .x_desc("time (UTC)")
            .draw()
            .ok()?;
        for (index, s) in series.iter().enumerate() {
            let colour = *COLOURS.get(index % COLOURS.len()).unwrap_or(&BLACK);
            chart
                .draw_series(LineSeries::new(
                    s.points.iter().copied(),
                    colour.stroke_width(2),
                ))
                .ok()?
                .label(s.label.replace('_', " "))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], colour));
            chart
                .draw_series(s.points.iter().map(|p| Circle::new(*p, 3, colour.filled())))
                .ok()?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperLeft)
            .draw()
            .ok()?;
        root.present().ok()?;
    }
    Some(svg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn observation(id: i64, data: &str, effective: Option<DateTime<Utc>>) -> Observation {
        Observation {
            id,
            subject_patient_id: 1,
            codeable_concept_id: 2,
            data_source_id: None,
            value_attachment_data: data.to_string(),
            content_type: "application/json".into(),
            status: "final".into(),
            effective_start: effective,
            effective_end: None,
            last_updated: Utc.with_ymd_and_hms(2026, 1, 9, 0, 0, 0).unwrap(),
            ow_key: None,
            identifiers: Vec::new(),
        }
    }

    const BP: &str = r#"{"header":{},"body":{"systolic_blood_pressure":{"value":115,"unit":"mmHg"},"diastolic_blood_pressure":{"value":60,"unit":"mmHg"},"effective_time_frame":{"date_time":"2026-01-02T08:00:00Z"}}}"#;

    #[test]
    fn blood_pressure_gives_two_series_at_the_frame_time() {
        let series = chart_series(&[observation(1, BP, None)], None, None);
        let t = Utc.with_ymd_and_hms(2026, 1, 2, 8, 0, 0).unwrap();
        assert_eq!(
            series,
            vec![
                ChartSeries {
                    label: "diastolic_blood_pressure".into(),
                    unit: "mmHg".into(),
                    points: vec![(t, 60.0)]
                },
                ChartSeries {
                    label: "systolic_blood_pressure".into(),
                    unit: "mmHg".into(),
                    points: vec![(t, 115.0)]
                },
            ]
        );
    }

    #[test]
    fn points_are_sorted_and_limited_to_the_range() {
        let hr =
            |v: f64| format!(r#"{{"body":{{"heart_rate":{{"value":{v},"unit":"beats/min"}}}}}}"#);
        let day = |d: u32| Utc.with_ymd_and_hms(2026, 1, d, 12, 0, 0).unwrap();
        let obs = vec![
            observation(1, &hr(70.0), Some(day(3))),
            observation(2, &hr(65.5), Some(day(1))),
            observation(3, &hr(80.0), Some(day(5))),
        ];
        let series = chart_series(&obs, Some(day(1)), Some(day(5)));
        assert_eq!(series.len(), 1);
        assert_eq!(
            series.first().map(|s| s.points.clone()),
            Some(vec![(day(1), 65.5), (day(3), 70.0)])
        );
    }

    #[test]
    fn summaries_name_each_quantity() {
        assert_eq!(
            value_summary(BP),
            "diastolic blood pressure 60 mmHg, systolic blood pressure 115 mmHg"
        );
        assert_eq!(value_summary(r#"{"body":{"x":1}}"#), r#"{"x":1}"#);
        assert_eq!(value_summary("not json"), "not json");
    }

    #[test]
    fn the_stored_time_is_the_last_resort() {
        let o = observation(1, r#"{"body":{}}"#, None);
        assert_eq!(observed_at(&o), o.last_updated);
    }

    #[test]
    fn daily_counts_group_by_patient_and_day() {
        let at = |d: u32, h: u32| Utc.with_ymd_and_hms(2026, 1, d, h, 0, 0).unwrap();
        let counts = daily_counts([(7, at(1, 1)), (7, at(1, 20)), (7, at(2, 1)), (8, at(2, 3))]);
        let d = |d: u32| NaiveDate::from_ymd_opt(2026, 1, d).unwrap();
        assert_eq!(counts[&7][&d(1)], 2);
        assert_eq!(counts[&7][&d(2)], 1);
        assert_eq!(counts[&8][&d(2)], 1);
    }

    #[test]
    fn the_svg_has_axis_labels_as_text_and_one_line_per_series() {
        let t = |h: u32| Utc.with_ymd_and_hms(2026, 1, 2, h, 0, 0).unwrap();
        let series = vec![ChartSeries {
            label: "heart_rate".into(),
            unit: "beats/min".into(),
            points: vec![(t(1), 60.0), (t(5), 72.0), (t(9), 66.0)],
        }];
        let svg = render_svg(&series, 640, 320).unwrap();
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.contains("<text"), "labels are SVG text");
        assert!(svg.contains("beats/min"));
        assert!(svg.contains("heart rate"));
        assert!(svg.contains("time (UTC)"));
        assert!(svg.contains("<polyline"));
        assert!(render_svg(&[], 640, 320).is_none());
    }

    #[test]
    fn uploaded_labels_cannot_inject_markup() {
        let data = r#"{"body":{"<script>alert(1)</script>":{"value":1,"unit":"<b>u</b>"}}}"#;
        let series = chart_series(&[observation(1, data, None)], None, None);
        let svg = render_svg(&series, 400, 200).unwrap();
        assert!(!svg.contains("<script>"), "{svg}");
        assert!(!svg.contains("<b>"), "{svg}");
        assert!(svg.contains("&lt;script&gt;"));
    }

    fn day(d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 2, d, 0, 0, 0).unwrap()
    }

    #[test]
    fn few_values_stay_as_they_are() {
        let mut s = BucketedSeries::new("heart_rate", "beats/min");
        s.add(day(1), 60.0);
        s.add(day(2), 70.0);
        assert!(!s.is_bucketed());
        assert_eq!(s.width_seconds(), 1);
        let series = s.chart_series();
        assert_eq!(series.len(), 1);
        assert_eq!(series[0].points, vec![(day(1), 60.0), (day(2), 70.0)]);
    }

    #[test]
    fn many_values_are_bucketed_with_min_mean_max() {
        let mut s = BucketedSeries::new("heart_rate", "beats/min");
        let start = day(1);
        // One value a minute for ten days: 14,400 values.
        for i in 0..14_400_i64 {
            s.add(start + chrono::Duration::minutes(i), (i % 10) as f64);
        }
        assert_eq!(s.count(), 14_400);
        assert!(s.is_bucketed());
        let buckets = s.buckets();
        assert!(buckets.len() <= MAX_BUCKETS, "{}", buckets.len());
        assert!(buckets.len() > MAX_BUCKETS / 4, "{}", buckets.len());
        // Every bucket spans whole minutes of the cycle 0..9: min 0, max 9, mean 4.5 (but the
        // partial buckets at both ends).
        let (_, middle) = buckets[buckets.len() / 2];
        assert_eq!((middle.min, middle.max), (0.0, 9.0));
        assert!((middle.mean() - 4.5).abs() < 0.5, "{}", middle.mean());
        assert_eq!(buckets.iter().map(|(_, b)| b.count).sum::<u64>(), 14_400);
        let series = s.chart_series();
        let labels: Vec<&str> = series.iter().map(|x| x.label.as_str()).collect();
        assert_eq!(
            labels,
            ["heart_rate mean", "heart_rate min", "heart_rate max"]
        );
        // Buckets lie within the data's time span, in order.
        assert!(buckets.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(buckets[0].0 >= start - chrono::Duration::seconds(s.width_seconds()));
    }

    #[test]
    fn widths_read_well() {
        assert_eq!(describe_width(8), "8 s");
        assert_eq!(describe_width(480), "8 min");
        assert_eq!(describe_width(7_200), "2.0 h");
        assert_eq!(describe_width(3 * 86_400), "3.0 days");
    }
}
