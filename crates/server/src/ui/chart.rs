//! The queue chart: queue depth and delivery rate over the sampled history, as inline SVG.
//!
//! Two panels share one time axis rather than one panel with two y axes: a depth in notices and
//! a rate in notices per second have nothing in common but time, and a second axis invites
//! reading one line against the other's scale. The scaling is pure functions, tested below.

use chrono::{DateTime, Utc};
use std::fmt::Write as _;

use crate::metrics::QueueSample;

/// The SVG's coordinate system (it scales to the page's width).
const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 372.0;
/// Room for the y axis labels on the left and a margin on the right.
const LEFT: f64 = 64.0;
const RIGHT: f64 = 24.0;
/// Each panel's height, and where each starts.
const PANEL_HEIGHT: f64 = 116.0;
const DEPTH_TOP: f64 = 56.0;
const RATE_TOP: f64 = 214.0;

/// A value at an instant.
pub(crate) type Point = (DateTime<Utc>, f64);

/// A rectangle of the drawing, in SVG units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Frame {
    pub left: f64,
    pub top: f64,
    pub width: f64,
    pub height: f64,
}

/// Queue depth at each sample.
pub(crate) fn queue_depths(samples: &[QueueSample]) -> Vec<Point> {
    samples
        .iter()
        .map(|sample| (sample.at, sample.queue_depth as f64))
        .collect()
}

/// Notices delivered per second between consecutive samples, at the later one. The count is of
/// all nodes; a count that went down (rows removed) or two samples at the same instant give no
/// rate rather than a negative or infinite one.
pub(crate) fn delivery_rates(samples: &[QueueSample]) -> Vec<Point> {
    samples
        .windows(2)
        .filter_map(|pair| {
            let seconds = (pair[1].at - pair[0].at).num_milliseconds() as f64 / 1000.0;
            let delivered = pair[1].delivered.checked_sub(pair[0].delivered)?;
            (seconds > 0.0).then(|| (pair[1].at, delivered as f64 / seconds))
        })
        .collect()
}

/// The smallest 1, 2 or 5 times a power of ten that is at least `max`: the top of a y axis.
/// An empty or all-zero series gets 1, so a flat line sits at the bottom, not in the middle.
pub(crate) fn nice_ceiling(max: f64) -> f64 {
    if !max.is_finite() || max <= 0.0 {
        return 1.0;
    }
    let base = 10f64.powf(max.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|step| step * base)
        .find(|top| *top >= max * (1.0 - 1e-12))
        .unwrap_or(10.0 * base)
}

/// Where each point falls in `frame`: time from `start` to `end` left to right, value from 0 to
/// `top` bottom to top (clamped to the frame).
pub(crate) fn place(
    points: &[Point],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    top: f64,
    frame: Frame,
) -> Vec<(f64, f64)> {
    let span = (end - start).num_milliseconds().max(1) as f64;
    points
        .iter()
        .map(|(at, value)| {
            let along = ((*at - start).num_milliseconds() as f64 / span).clamp(0.0, 1.0);
            let up = (value / top).clamp(0.0, 1.0);
            (
                frame.left + along * frame.width,
                frame.top + (1.0 - up) * frame.height,
            )
        })
        .collect()
}

/// An axis label: whole numbers as such, fractions with up to three decimals.
pub(crate) fn axis_label(value: f64) -> String {
    let text = format!("{value:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// The chart's section of the dashboard: the SVG, or a note while fewer than two samples exist.
pub(crate) fn section(samples: &[QueueSample]) -> String {
    let mut out =
        String::from(r#"<section class="panel" id="chart"><h2>Queue depth and delivery rate</h2>"#);
    match (samples.first(), samples.last()) {
        (Some(first), Some(last)) if samples.len() >= 2 => {
            out.push_str(&svg(samples, first.at, last.at));
            let _ = write!(
                out,
                r#"<p class="hint">{} samples, one every 10 s on this node, the last hour at most. Delivery rate counts every node's deliveries.</p>"#,
                samples.len()
            );
        }
        _ => out.push_str(
            r#"<p class="notice" id="chart-collecting">Collecting data: the queue is sampled every 10 seconds, and the chart appears after two samples.</p>"#,
        ),
    }
    out.push_str("</section>");
    out
}

fn svg(samples: &[QueueSample], start: DateTime<Utc>, end: DateTime<Utc>) -> String {
    let width = WIDTH - LEFT - RIGHT;
    let mut out = format!(
        r#"<svg id="queue-chart" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="queue-chart-title"><title id="queue-chart-title">Queue depth and delivery rate over time</title>"#
    );
    legend(&mut out);
    let frame = |top| Frame {
        left: LEFT,
        top,
        width,
        height: PANEL_HEIGHT,
    };
    let panels = [
        Panel {
            points: queue_depths(samples),
            class: "depth",
            title: "Queue depth (notices)",
            frame: frame(DEPTH_TOP),
        },
        Panel {
            points: delivery_rates(samples),
            class: "rate",
            title: "Delivery rate (notices/s)",
            frame: frame(RATE_TOP),
        },
    ];
    for panel in &panels {
        panel.draw(&mut out, start, end);
    }
    time_axis(&mut out, start, end, width);
    out.push_str("</svg>");
    out
}

fn legend(out: &mut String) {
    for (index, (class, label)) in [
        (
            "depth",
            "Queue depth: pending, delivering and awaiting retry",
        ),
        ("rate", "Delivery rate: notices acknowledged per second"),
    ]
    .into_iter()
    .enumerate()
    {
        let x = LEFT + index as f64 * 430.0;
        let _ = write!(
            out,
            r#"<line class="series {class}" x1="{x}" y1="18" x2="{}" y2="18"/><text class="legend" x="{}" y="22">{label}</text>"#,
            x + 24.0,
            x + 32.0,
        );
    }
}

/// One series in its own frame, with its y axis.
struct Panel {
    points: Vec<Point>,
    /// The CSS class of its line.
    class: &'static str,
    title: &'static str,
    frame: Frame,
}

impl Panel {
    fn draw(&self, out: &mut String, start: DateTime<Utc>, end: DateTime<Utc>) {
        let Self {
            points,
            class,
            title,
            frame,
        } = self;
        let frame = *frame;
        let max = points.iter().map(|(_, value)| *value).fold(0.0, f64::max);
        let top = nice_ceiling(max);
        let bottom = frame.top + frame.height;
        let right = frame.left + frame.width;
        let _ = write!(
            out,
            r#"<text class="panel-title" x="{}" y="{}">{title}</text>"#,
            frame.left,
            frame.top - 8.0
        );
        for step in [0.0, 0.5, 1.0] {
            let y = bottom - step * frame.height;
            let grid = if step == 0.0 { "axis" } else { "grid" };
            let _ = write!(
                out,
                r#"<line class="{grid}" x1="{}" y1="{y}" x2="{right}" y2="{y}"/><text class="tick" x="{}" y="{}" text-anchor="end">{}</text>"#,
                frame.left,
                frame.left - 8.0,
                y + 4.0,
                axis_label(step * top)
            );
        }
        let _ = write!(
            out,
            r#"<line class="axis" x1="{0}" y1="{1}" x2="{0}" y2="{bottom}"/>"#,
            frame.left, frame.top
        );
        let placed = place(points, start, end, top, frame);
        let coordinates: Vec<String> = placed
            .iter()
            .map(|(x, y)| format!("{x:.1},{y:.1}"))
            .collect();
        match placed.as_slice() {
            [] => {
                let _ = write!(
                    out,
                    r#"<text class="tick" x="{}" y="{}">no data yet</text>"#,
                    frame.left + 8.0,
                    bottom - 8.0
                );
            }
            [(x, y)] => {
                let _ = write!(
                    out,
                    r#"<circle class="dot {class}" cx="{x:.1}" cy="{y:.1}" r="3"/>"#
                );
            }
            _ => {
                let _ = write!(
                    out,
                    r#"<polyline class="series {class}" points="{}"/>"#,
                    coordinates.join(" ")
                );
            }
        }
    }
}

fn time_axis(out: &mut String, start: DateTime<Utc>, end: DateTime<Utc>, width: f64) {
    let y = RATE_TOP + PANEL_HEIGHT + 20.0;
    let middle = start + (end - start) / 2;
    // Samples are normally 10 s apart; a history of a few seconds (just started, or a test)
    // needs the milliseconds to tell its times apart.
    let format = if end - start < chrono::Duration::seconds(3) {
        "%H:%M:%S%.3f"
    } else {
        "%H:%M:%S"
    };
    for (at, x, anchor) in [
        (start, LEFT, "start"),
        (middle, LEFT + width / 2.0, "middle"),
        (end, LEFT + width, "end"),
    ] {
        let _ = write!(
            out,
            r#"<text class="tick" x="{x}" y="{y}" text-anchor="{anchor}">{}</text>"#,
            at.format(format)
        );
    }
    let _ = write!(
        out,
        r#"<text class="axis-title" x="{}" y="{}" text-anchor="middle">time (UTC)</text>"#,
        LEFT + width / 2.0,
        y + 20.0
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + seconds, 0).expect("valid instant")
    }

    fn sample(seconds: i64, queue_depth: u64, delivered: u64) -> QueueSample {
        QueueSample {
            at: at(seconds),
            queue_depth,
            waiting: 0,
            delivered,
        }
    }

    #[test]
    fn the_rate_is_deliveries_per_second_between_consecutive_samples() {
        let samples = [sample(0, 5, 100), sample(10, 3, 150), sample(20, 0, 150)];

        assert_eq!(delivery_rates(&samples), vec![(at(10), 5.0), (at(20), 0.0)]);
    }

    #[test]
    fn a_count_that_went_down_or_no_time_between_samples_gives_no_rate() {
        let samples = [sample(0, 0, 100), sample(10, 0, 40), sample(10, 0, 60)];

        assert_eq!(delivery_rates(&samples), vec![]);
        assert_eq!(delivery_rates(&samples[..1]), vec![]);
    }

    #[test]
    fn the_y_axis_tops_at_one_two_or_five_times_a_power_of_ten() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(f64::NAN), 1.0);
        assert_eq!(nice_ceiling(1.0), 1.0);
        assert_eq!(nice_ceiling(1.2), 2.0);
        assert_eq!(nice_ceiling(3.0), 5.0);
        assert_eq!(nice_ceiling(7.0), 10.0);
        assert_eq!(nice_ceiling(20.0), 20.0);
        assert_eq!(nice_ceiling(4_321.0), 5_000.0);
        assert!((nice_ceiling(0.03) - 0.05).abs() < 1e-12);
    }

    #[test]
    fn points_span_the_frame_from_start_to_end_and_zero_to_top() {
        let frame = Frame {
            left: 10.0,
            top: 20.0,
            width: 100.0,
            height: 50.0,
        };
        let points = [(at(0), 0.0), (at(5), 5.0), (at(10), 10.0)];

        let placed = place(&points, at(0), at(10), 10.0, frame);

        assert_eq!(placed, vec![(10.0, 70.0), (60.0, 45.0), (110.0, 20.0)]);
    }

    #[test]
    fn points_outside_the_range_are_clamped_to_the_frame() {
        let frame = Frame {
            left: 0.0,
            top: 0.0,
            width: 100.0,
            height: 100.0,
        };
        let points = [(at(-5), -1.0), (at(20), 50.0)];

        let placed = place(&points, at(0), at(10), 10.0, frame);

        assert_eq!(placed, vec![(0.0, 100.0), (100.0, 0.0)]);
    }

    #[test]
    fn axis_labels_drop_needless_decimals() {
        assert_eq!(axis_label(0.0), "0");
        assert_eq!(axis_label(50.0), "50");
        assert_eq!(axis_label(2.5), "2.5");
        assert_eq!(axis_label(0.025), "0.025");
    }

    #[test]
    fn fewer_than_two_samples_show_the_collecting_note_and_no_chart() {
        let one = section(&[sample(0, 1, 0)]);

        assert!(one.contains("Collecting data"));
        assert!(!one.contains("<svg"));
    }

    #[test]
    fn two_samples_draw_both_panels_with_legend_and_axes() {
        let chart = section(&[sample(0, 4, 0), sample(10, 2, 20), sample(20, 0, 30)]);

        assert!(chart.contains(r#"<svg id="queue-chart""#));
        assert!(chart.contains(r#"<polyline class="series depth""#));
        assert!(chart.contains(r#"<polyline class="series rate""#));
        assert!(chart.contains("Queue depth (notices)"));
        assert!(chart.contains("Delivery rate (notices/s)"));
        assert!(chart.contains("time (UTC)"));
        assert!(!chart.contains("Collecting data"));
    }
}
