//! Charts as PNG images, rendered in-process (the chat bot and the REST API send the same
//! pictures). Pure functions: data in, PNG bytes out — no HTTP, no SQL.
//!
//! Layout:
//! - `font.rs`: the embedded font (the container has no system fonts) and its registration.
//! - `render.rs`: the canvas (an RGB buffer), PNG encoding, colours and the "no data" picture.
//! - `format.rs`: amounts as labels (currency scale) and the `f64` used only for pixel positions.
//! - `spending.rs`: spending by category, a horizontal bar chart.
//! - `pnl.rs`: cumulative PnL over time, a line chart.
//! - `table.rs`: the same data as a short aligned text table (for chat messages).

mod font;
mod format;
mod pnl;
mod render;
mod spending;
mod table;

pub use pnl::cumulative_pnl_png;
pub use spending::spending_by_category_png;
pub use table::{pnl_table, spending_table, text_table};

/// Why a chart could not be drawn. Inputs never cause one (empty data draws "no data");
/// these are failures of the renderer itself.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    #[error("the embedded chart font could not be loaded")]
    Font,
    #[error("drawing the chart: {0}")]
    Draw(String),
    #[error("encoding the PNG: {0}")]
    Encode(#[from] png::EncodingError),
}

/// The MIME type of what the renderers return.
pub const PNG_CONTENT_TYPE: &str = "image/png";

/// The currency a one-currency chart shows when the caller named none: the one with the most
/// weight (transactions, fills), ties to the alphabetically first; returned with the others,
/// so a title can say they exist. `None` without any.
pub fn choose_currency<'a>(
    weights: impl IntoIterator<Item = (&'a str, i64)>,
) -> Option<(String, Vec<String>)> {
    let mut sums: std::collections::BTreeMap<&str, i64> = std::collections::BTreeMap::new();
    for (currency, weight) in weights {
        *sums.entry(currency).or_default() += weight;
    }
    // `max_by_key` keeps the last maximum; iterating in reverse makes that the first name.
    let chosen = sums
        .iter()
        .rev()
        .max_by_key(|(_, w)| **w)
        .map(|(c, _)| *c)?;
    let others = sums
        .keys()
        .filter(|c| **c != chosen)
        .map(|c| (*c).to_owned());
    Some((chosen.to_owned(), others.collect()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_heaviest_currency_is_chosen_ties_alphabetically() {
        let pick = super::choose_currency([("USD", 2), ("EUR", 3), ("USD", 3), ("GBP", 4)]);
        assert_eq!(pick, Some(("USD".into(), vec!["EUR".into(), "GBP".into()])));
        let tie = super::choose_currency([("USD", 1), ("EUR", 1)]);
        assert_eq!(tie, Some(("EUR".into(), vec!["USD".into()])));
        assert_eq!(super::choose_currency([]), None);
    }
}
