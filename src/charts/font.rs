//! The one font charts use, compiled into the binary: the container has no system fonts, and
//! plotters' `ab_glyph` backend draws only fonts registered with it.

use super::ChartError;
use plotters::style::FontStyle;
use std::sync::OnceLock;

/// DejaVu Sans cut down to Latin, Greek, Cyrillic, punctuation and currency signs (66 KiB;
/// how it was made and its licence are beside it in `font/`).
static DEJAVU_SANS: &[u8] = include_bytes!("font/DejaVuSans-subset.ttf");

/// The family name every chart asks for.
pub(super) const FAMILY: &str = "sans-serif";

/// Registers the font once per process; later calls return the first outcome.
pub(super) fn ensure() -> Result<(), ChartError> {
    static DONE: OnceLock<bool> = OnceLock::new();
    let ok = *DONE.get_or_init(|| {
        plotters::style::register_font(FAMILY, FontStyle::Normal, DEJAVU_SANS).is_ok()
    });
    if ok { Ok(()) } else { Err(ChartError::Font) }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_embedded_font_loads() {
        assert!(super::ensure().is_ok());
    }
}
