//! Spending by category: horizontal bars, the largest on top, each labelled with its amount.

use super::render::{self, Area, BAR, GRID, INK, LOSS, MUTED, WIDTH, failed, text};
use super::{ChartError, format};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use rust_decimal::Decimal;
use std::collections::BTreeMap;

/// More bars than this stop being readable on a phone: the rest are summed into one.
pub(super) const MAX_BARS: usize = 12;
const LABEL_CHARS: usize = 24;

/// `rows` merged by name (a name given twice is one category), largest first (ties by name),
/// and cut to `keep` entries, the last of which sums the rest as "Other (n)".
pub(super) fn ranked(rows: &[(String, Decimal)], keep: usize) -> Vec<(String, Decimal)> {
    let mut merged: BTreeMap<&str, Decimal> = BTreeMap::new();
    for (name, amount) in rows {
        *merged.entry(name.as_str()).or_default() += *amount;
    }
    let mut sorted: Vec<(String, Decimal)> =
        merged.into_iter().map(|(n, a)| (n.to_owned(), a)).collect();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    if keep > 0 && sorted.len() > keep {
        let rest = sorted.split_off(keep - 1);
        let sum = rest.iter().map(|r| r.1).sum();
        sorted.push((format!("Other ({})", rest.len()), sum));
    }
    sorted
}

/// A bar chart of `rows` (category name, amount spent as a positive decimal) in `currency`.
/// Empty data gives a picture saying "no data".
pub fn spending_by_category_png(
    title: &str,
    rows: &[(String, Decimal)],
    currency: &str,
) -> Result<Vec<u8>, ChartError> {
    let bars = ranked(rows, MAX_BARS);
    if bars.is_empty() {
        return render::no_data(title);
    }
    let height = 120 + 34 * bars.len() as u32;
    render::png(WIDTH, height, |root| draw(root, title, &bars, currency))
}

fn draw(
    root: &Area<'_>,
    title: &str,
    bars: &[(String, Decimal)],
    currency: &str,
) -> Result<(), ChartError> {
    let n = bars.len();
    let labels: Vec<String> = bars
        .iter()
        .map(|b| render::shorten(&b.0, LABEL_CHARS))
        .collect();
    let widest = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    let label_px = (widest as u32 * 8 + 16).clamp(60, 240);
    let low = bars.iter().map(|b| b.1).min().unwrap_or_default();
    let high = bars.iter().map(|b| b.1).max().unwrap_or_default();
    let (low, high) = (
        format::pixel(low.min(Decimal::ZERO)),
        format::pixel(high.max(Decimal::ZERO)),
    );
    // Room on the right (and left, for refunds) for the amount written after each bar.
    let span = if high - low > 0.0 { high - low } else { 1.0 };
    let x_range = (low - if low < 0.0 { span * 0.2 } else { 0.0 })..(high + span * 0.22);

    let mut chart = ChartBuilder::on(root)
        .caption(title, render::title(title))
        .margin(16)
        .x_label_area_size(36)
        .y_label_area_size(label_px)
        .build_cartesian_2d(x_range, (0..n).into_segmented())
        .map_err(failed)?;
    // Row 0 is drawn at the bottom: the largest amount goes in the top row.
    let row = |i: usize| n - 1 - i;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .light_line_style(WHITE)
        .bold_line_style(GRID)
        .axis_style(MUTED)
        .y_labels(n)
        .y_label_style(text(14, INK))
        .x_label_style(text(12, MUTED))
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(r) if *r < n => labels[row(*r)].clone(),
            _ => String::new(),
        })
        .x_label_formatter(&|x| format::axis(*x))
        .x_desc(format!("spent, {currency}"))
        .axis_desc_style(text(13, MUTED))
        .draw()
        .map_err(failed)?;

    chart
        .draw_series(bars.iter().enumerate().map(|(i, (_, amount))| {
            let colour = if amount.is_sign_negative() { LOSS } else { BAR };
            let mut bar = Rectangle::new(
                [
                    (0.0, SegmentValue::Exact(row(i))),
                    (format::pixel(*amount), SegmentValue::Exact(row(i) + 1)),
                ],
                colour.filled(),
            );
            bar.set_margin(5, 5, 0, 0);
            bar
        }))
        .map_err(failed)?;
    chart
        .draw_series(bars.iter().enumerate().map(|(i, (_, amount))| {
            let end = format::pixel(*amount);
            let (dx, anchor) = if end < 0.0 {
                (-6, HPos::Right)
            } else {
                (6, HPos::Left)
            };
            EmptyElement::at((end, SegmentValue::CenterOf(row(i))))
                + Text::new(
                    format::amount(*amount, currency),
                    (dx, 0),
                    text(13, INK).pos(Pos::new(anchor, VPos::Center)),
                )
        }))
        .map_err(failed)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::render::tests::png_size;
    use super::*;
    use rust_decimal::dec;

    fn rows(items: &[(&str, Decimal)]) -> Vec<(String, Decimal)> {
        items.iter().map(|(n, a)| ((*n).to_owned(), *a)).collect()
    }

    #[test]
    fn bars_are_sorted_merged_and_capped() {
        let r = rows(&[
            ("Rent", dec!(900)),
            ("Food", dec!(310.5)),
            ("Bars", dec!(40)),
            ("Food", dec!(10)),
            ("Books", dec!(40)),
        ]);
        assert_eq!(
            ranked(&r, 10),
            rows(&[
                ("Rent", dec!(900)),
                ("Food", dec!(320.5)),
                ("Bars", dec!(40)),
                ("Books", dec!(40)),
            ])
        );
        assert_eq!(
            ranked(&r, 2),
            rows(&[("Rent", dec!(900)), ("Other (3)", dec!(400.5))])
        );
    }

    #[test]
    fn a_bar_chart_is_a_png_sized_to_its_bars() {
        let r = rows(&[
            ("Rent", dec!(900)),
            ("Groceries and household", dec!(310.55)),
            ("Refund", dec!(-20)),
        ]);
        let bytes = spending_by_category_png("Spending, January", &r, "EUR").expect("renders");
        assert_eq!(png_size(&bytes), (WIDTH, 120 + 34 * 3));
    }

    #[test]
    fn many_categories_are_capped() {
        let r: Vec<(String, Decimal)> = (0..40)
            .map(|i| (format!("Category {i}"), Decimal::from(i + 1)))
            .collect();
        let bytes = spending_by_category_png("Spending", &r, "JPY").expect("renders");
        assert_eq!(png_size(&bytes), (WIDTH, 120 + 34 * MAX_BARS as u32));
    }

    #[test]
    fn no_rows_say_no_data() {
        let bytes = spending_by_category_png("Spending", &[], "EUR").expect("renders");
        assert_eq!(png_size(&bytes), (WIDTH, 240));
    }

    #[test]
    fn all_zero_amounts_still_draw() {
        let r = rows(&[("Nothing", Decimal::ZERO)]);
        assert!(spending_by_category_png("Spending", &r, "EUR").is_ok());
    }
}
