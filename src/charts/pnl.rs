//! Cumulative PnL over time: a stepped line (realised PnL changes only at fills, so the value
//! holds between two points), green above zero and red below, with the last value written at
//! its end.

use super::render::{self, Area, GAIN, GRID, LOSS, MUTED, WIDTH, failed, text};
use super::{ChartError, format};
use chrono::{DateTime, Duration, Utc};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use rust_decimal::Decimal;

const HEIGHT: u32 = 480;
/// Markers on every point help while they are few; past this they only blur the line.
const MAX_MARKERS: usize = 60;

/// A line chart of `points` (time, cumulative PnL in `currency`), in any order. Empty data
/// gives a picture saying "no data".
pub fn cumulative_pnl_png(
    title: &str,
    points: &[(DateTime<Utc>, Decimal)],
    currency: &str,
) -> Result<Vec<u8>, ChartError> {
    if points.is_empty() {
        return render::no_data(title);
    }
    let mut sorted = points.to_vec();
    sorted.sort_by_key(|p| p.0);
    render::png(WIDTH, HEIGHT, |root| draw(root, title, &sorted, currency))
}

fn draw(
    root: &Area<'_>,
    title: &str,
    points: &[(DateTime<Utc>, Decimal)],
    currency: &str,
) -> Result<(), ChartError> {
    let (first, last) = match (points.first(), points.last()) {
        (Some(f), Some(l)) => (*f, *l),
        _ => return Ok(()),
    };
    // One point (or all at one instant) still needs a time span to draw on.
    let (start, end) = if last.0 > first.0 {
        (first.0, last.0 + (last.0 - first.0) / 12)
    } else {
        (first.0 - Duration::hours(1), first.0 + Duration::hours(1))
    };
    let values = points.iter().map(|p| format::pixel(p.1));
    let low = values.clone().fold(0.0_f64, f64::min);
    let high = values.fold(0.0_f64, f64::max);
    let pad = if high - low > 0.0 {
        (high - low) * 0.12
    } else {
        1.0
    };
    let short_span = end - start <= Duration::days(2);

    let mut chart = ChartBuilder::on(root)
        .caption(title, render::title(title))
        .margin(16)
        .x_label_area_size(36)
        .y_label_area_size(72)
        .build_cartesian_2d(start..end, (low - pad)..(high + pad))
        .map_err(failed)?;
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .bold_line_style(GRID)
        .axis_style(MUTED)
        .x_labels(8)
        .y_labels(8)
        .x_label_style(text(12, MUTED))
        .y_label_style(text(12, MUTED))
        .x_label_formatter(&|t| {
            if short_span {
                t.format("%m-%d %H:%M").to_string()
            } else {
                t.format("%Y-%m-%d").to_string()
            }
        })
        .y_label_formatter(&|y| format::axis(*y))
        .y_desc(format!("realised PnL, {currency}"))
        .axis_desc_style(text(13, MUTED))
        .draw()
        .map_err(failed)?;

    chart
        .draw_series(LineSeries::new([(start, 0.0), (end, 0.0)], MUTED))
        .map_err(failed)?;
    let colour = if last.1.is_sign_negative() {
        LOSS
    } else {
        GAIN
    };
    chart
        .draw_series(LineSeries::new(steps(points), colour.stroke_width(2)))
        .map_err(failed)?;
    if points.len() <= MAX_MARKERS {
        chart
            .draw_series(
                points
                    .iter()
                    .map(|p| Circle::new((p.0, format::pixel(p.1)), 3, colour.filled())),
            )
            .map_err(failed)?;
    }
    // The latest value, in the plot's top-left corner where no line can hide it.
    chart
        .plotting_area()
        .strip_coord_spec()
        .draw(&Text::new(
            format!("latest: {} {currency}", format::amount(last.1, currency)),
            (10, 10),
            text(15, colour).pos(Pos::new(HPos::Left, VPos::Top)),
        ))
        .map_err(failed)?;
    Ok(())
}

/// Pixel coordinates of the stepped line: each value holds until the next point's time.
fn steps(points: &[(DateTime<Utc>, Decimal)]) -> Vec<(DateTime<Utc>, f64)> {
    let mut out = Vec::with_capacity(points.len() * 2);
    let mut previous: Option<f64> = None;
    for (at, value) in points {
        if let Some(p) = previous {
            out.push((*at, p));
        }
        let v = format::pixel(*value);
        out.push((*at, v));
        previous = Some(v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::render::tests::png_size;
    use super::*;
    use rust_decimal::dec;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    #[test]
    fn a_line_chart_is_a_png() {
        let points = [
            (at("2026-01-03T10:00:00Z"), dec!(-1.5)),
            (at("2026-01-01T10:00:00Z"), dec!(0)),
            (at("2026-01-02T10:00:00Z"), dec!(12.25)),
        ];
        let bytes = cumulative_pnl_png("PnL", &points, "USDT").expect("renders");
        assert_eq!(png_size(&bytes), (WIDTH, HEIGHT));
    }

    #[test]
    fn one_point_and_no_points_draw() {
        let one = [(at("2026-01-01T10:00:00Z"), dec!(3))];
        assert!(cumulative_pnl_png("PnL", &one, "EUR").is_ok());
        let none = cumulative_pnl_png("PnL", &[], "EUR").expect("renders");
        assert_eq!(png_size(&none), (WIDTH, 240));
    }

    #[test]
    fn the_line_holds_each_value_until_the_next_point() {
        let (a, b) = (at("2026-01-01T00:00:00Z"), at("2026-01-02T00:00:00Z"));
        assert_eq!(
            steps(&[(a, dec!(1)), (b, dec!(3))]),
            vec![(a, 1.0), (b, 1.0), (b, 3.0)]
        );
    }
}
