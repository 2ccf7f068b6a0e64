//! The chart data as a short monospace table, for a chat message next to the picture (and
//! for anyone who cannot see it).

use super::format;
use super::spending::{MAX_BARS, ranked};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

/// Days a PnL table shows (the most recent).
const PNL_DAYS: usize = 10;

/// `rows` under `header`, columns separated by two spaces: the first column left-aligned,
/// the others right-aligned (they hold amounts). Widths count characters, not bytes.
pub fn text_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let columns = header.len();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().take(columns).enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut out = String::new();
        for (i, cell) in cells.take(columns).enumerate() {
            let pad = widths[i].saturating_sub(cell.chars().count());
            if i == 0 {
                out.push_str(cell);
                out.extend(std::iter::repeat_n(' ', pad));
            } else {
                out.push_str("  ");
                out.extend(std::iter::repeat_n(' ', pad));
                out.push_str(cell);
            }
        }
        out.truncate(out.trim_end().len());
        out
    };
    let mut lines = vec![line(&mut header.iter().copied())];
    lines.push(line(
        &mut widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str),
    ));
    for row in rows {
        lines.push(line(&mut row.iter().map(String::as_str)));
    }
    lines.join("\n")
}

/// Spending by category as the chart shows it (largest first, the tail summed into "Other"),
/// plus a total line.
pub fn spending_table(rows: &[(String, Decimal)], currency: &str) -> String {
    let ranked = ranked(rows, MAX_BARS);
    if ranked.is_empty() {
        return "no data".to_owned();
    }
    let total: Decimal = ranked.iter().map(|r| r.1).sum();
    let mut body: Vec<Vec<String>> = ranked
        .into_iter()
        .map(|(name, amount)| vec![name, format::amount(amount, currency)])
        .collect();
    body.push(vec!["Total".to_owned(), format::amount(total, currency)]);
    text_table(&["Category", currency], &body)
}

/// Cumulative PnL by UTC day: the day's change and the running value at its end, for the last
/// days that have points.
pub fn pnl_table(points: &[(DateTime<Utc>, Decimal)], currency: &str) -> String {
    let mut sorted = points.to_vec();
    sorted.sort_by_key(|p| p.0);
    // (day, value at its start, value at its end). The value is cumulative, so the first day
    // starts from zero.
    let mut days: Vec<(String, Decimal, Decimal)> = Vec::new();
    for (at, value) in &sorted {
        let day = at.format("%Y-%m-%d").to_string();
        match days.last_mut() {
            Some(last) if last.0 == day => last.2 = *value,
            Some(last) => {
                let start = last.2;
                days.push((day, start, *value));
            }
            None => days.push((day, Decimal::ZERO, *value)),
        }
    }
    if days.is_empty() {
        return "no data".to_owned();
    }
    let skipped = days.len().saturating_sub(PNL_DAYS);
    let mut body: Vec<Vec<String>> = Vec::new();
    if skipped > 0 {
        body.push(vec![
            format!("… {skipped} earlier"),
            String::new(),
            String::new(),
        ]);
    }
    for (day, start, end) in days.into_iter().skip(skipped) {
        body.push(vec![
            day,
            signed(end - start, currency),
            format::amount(end, currency),
        ]);
    }
    text_table(&["Day", "Change", &format!("PnL {currency}")], &body)
}

fn signed(v: Decimal, currency: &str) -> String {
    let text = format::amount(v, currency);
    if v > Decimal::ZERO && !text.chars().all(|c| c == '0' || c == '.') {
        format!("+{text}")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::dec;

    #[test]
    fn columns_align() {
        let t = text_table(
            &["Category", "EUR"],
            &[
                vec!["Rent".into(), "900.00".into()],
                vec!["Café".into(), "1,310.50".into()],
            ],
        );
        assert_eq!(
            t,
            "Category       EUR\n\
             --------  --------\n\
             Rent        900.00\n\
             Café      1,310.50"
        );
    }

    #[test]
    fn spending_table_is_ranked_with_a_total() {
        let rows = vec![
            ("Food".to_owned(), dec!(12.5)),
            ("Rent".to_owned(), dec!(900)),
        ];
        assert_eq!(
            spending_table(&rows, "EUR"),
            "Category     EUR\n\
             --------  ------\n\
             Rent      900.00\n\
             Food       12.50\n\
             Total     912.50"
        );
        assert_eq!(spending_table(&[], "EUR"), "no data");
    }

    #[test]
    fn pnl_table_shows_each_day_change_and_end_value() {
        let at = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_default()
        };
        let points = vec![
            (at("2026-01-02T09:00:00Z"), dec!(5)),
            (at("2026-01-01T09:00:00Z"), dec!(-1)),
            (at("2026-01-02T18:00:00Z"), dec!(7.125)),
        ];
        assert_eq!(
            pnl_table(&points, "USDT"),
            "Day         Change  PnL USDT\n\
             ----------  ------  --------\n\
             2026-01-01   -1.00     -1.00\n\
             2026-01-02   +8.13      7.13"
        );
        assert_eq!(pnl_table(&[], "USDT"), "no data");
    }
}
