//! The canvas every chart draws on: an RGB buffer in memory (plotters' bitmap backend, no
//! image crate), encoded to PNG here; plus colours, text styles and the "no data" picture.

use super::{ChartError, font};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

pub(super) type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

pub(super) const WIDTH: u32 = 800;
pub(super) const INK: RGBColor = RGBColor(40, 40, 40);
pub(super) const MUTED: RGBColor = RGBColor(130, 130, 130);
pub(super) const GRID: RGBColor = RGBColor(225, 225, 225);
pub(super) const BAR: RGBColor = RGBColor(66, 110, 180);
pub(super) const GAIN: RGBColor = RGBColor(30, 130, 76);
pub(super) const LOSS: RGBColor = RGBColor(192, 57, 43);

pub(super) fn text(size: u32, color: RGBColor) -> TextStyle<'static> {
    (font::FAMILY, size).into_font().color(&color)
}

/// A chart title: smaller when long, so it fits the width (titles carry a period and notes).
pub(super) fn title(s: &str) -> TextStyle<'static> {
    let size = match s.chars().count() {
        0..=56 => 22,
        57..=72 => 18,
        _ => 15,
    };
    text(size, INK)
}

/// plotters reports errors as its own generic kinds; callers only need the words.
pub(super) fn failed(e: impl std::fmt::Display) -> ChartError {
    ChartError::Draw(e.to_string())
}

/// Draws with `paint` on a white `width`×`height` canvas and returns the PNG.
pub(super) fn png<F>(width: u32, height: u32, paint: F) -> Result<Vec<u8>, ChartError>
where
    F: FnOnce(&Area<'_>) -> Result<(), ChartError>,
{
    font::ensure()?;
    let mut rgb = vec![255u8; width as usize * height as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(failed)?;
        paint(&root)?;
        root.present().map_err(failed)?;
    }
    encode(width, height, &rgb)
}

fn encode(width: u32, height: u32, rgb: &[u8]) -> Result<Vec<u8>, ChartError> {
    let mut out = Vec::with_capacity(rgb.len() / 8);
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    // Charts are flat colours: the fast mode compresses them nearly as well, in a fraction
    // of the time.
    encoder.set_compression(png::Compression::Fast);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(rgb)?;
    writer.finish()?;
    Ok(out)
}

/// The picture for an empty data set: the title and "no data", so a chat or a dashboard
/// still gets an image rather than an error.
pub(super) fn no_data(title: &str) -> Result<Vec<u8>, ChartError> {
    png(WIDTH, 240, |root| {
        let centre = (WIDTH as i32 / 2, 0);
        root.draw(&Text::new(
            title.to_owned(),
            (centre.0, 30),
            self::title(title).pos(Pos::new(HPos::Center, VPos::Center)),
        ))
        .map_err(failed)?;
        root.draw(&Text::new(
            "no data",
            (centre.0, 130),
            text(28, MUTED).pos(Pos::new(HPos::Center, VPos::Center)),
        ))
        .map_err(failed)
    })
}

/// `s` cut to `max` characters, with an ellipsis when cut.
pub(super) fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut cut: String = s.chars().take(max.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

#[cfg(test)]
pub(super) mod tests {
    /// Width and height from a PNG's IHDR chunk, after checking the signature.
    pub fn png_size(bytes: &[u8]) -> (u32, u32) {
        let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        let reader = decoder.read_info().expect("a valid PNG");
        let info = reader.info();
        (info.width, info.height)
    }

    #[test]
    fn no_data_is_a_png() {
        let bytes = super::no_data("Spending").expect("renders");
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"));
        assert_eq!(png_size(&bytes), (super::WIDTH, 240));
    }

    #[test]
    fn long_labels_are_shortened() {
        assert_eq!(super::shorten("Groceries", 20), "Groceries");
        assert_eq!(super::shorten("Restaurants and cafés", 10), "Restauran…");
    }
}
