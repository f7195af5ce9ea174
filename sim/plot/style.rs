//! The look every figure shares: size in inches, font size in points, a colour-blind-safe
//! palette whose series also differ by marker and dash (so they stay apart in greyscale),
//! legends in their own column outside the data, category and bit-width axes drawn with
//! their labels ending at the tick, and tick numbers without needless decimals.

use super::PlotError;
use plotters::coord::Shift;
use plotters::element::{DashedPathElement, EmptyElement, Polygon};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Drawing units per inch (1 unit = half a point), so rounding to whole units is invisible.
pub const UNITS_PER_INCH: f64 = 144.0;

/// The size of a figure and of its text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Size {
    /// Width in inches (3.5 for one column of a two-column paper, 7 for the full width).
    pub width_in: f64,
    /// Height in inches.
    pub height_in: f64,
    /// Size of the tick and legend text in points (titles are larger).
    pub font_pt: f64,
}

impl Size {
    /// The figure in drawing units.
    pub fn units(&self) -> (u32, u32) {
        ((self.width_in * UNITS_PER_INCH).round() as u32, (self.height_in * UNITS_PER_INCH).round() as u32)
    }

    /// Checks the size is one a page can hold.
    pub fn check(&self) -> Result<(), PlotError> {
        let ok = |v: f64, lo: f64, hi: f64| v.is_finite() && v >= lo && v <= hi;
        if !ok(self.width_in, 1.0, 40.0) || !ok(self.height_in, 1.0, 40.0) {
            return Err(PlotError(format!(
                "a figure of {:.2} x {:.2} in: width and height must be 1 to 40 inches (25.4 to 1016 mm)",
                self.width_in, self.height_in
            )));
        }
        if !ok(self.font_pt, 4.0, 40.0) {
            return Err(PlotError(format!("--font-size {}: must be 4 to 40 points", self.font_pt)));
        }
        Ok(())
    }

    /// A font `rel` times the base size (plotters' size, which SVG writes divided by 1.24).
    pub fn font(&self, rel: f64) -> TextStyle<'static> {
        ("sans-serif", self.font_pt * 2.0 * 1.24 * rel).into_font().color(&BLACK)
    }

    /// The font [`Size::font`] draws, at the size it is drawn (for measuring text: plotters
    /// measures at its own size, which SVG writes 1.24 times smaller).
    /// Scaled by 1.17: renderers (resvg, PDF viewers) lay the bundled font out up to ~17%
    /// wider than plotters' estimate at the drawn size, which clipped legend names and let
    /// the x-axis title run into rotated labels.
    pub fn measure(&self, rel: f64) -> TextStyle<'static> {
        ("sans-serif", self.font_pt * 2.0 * 1.17 * rel).into_font().into()
    }

    /// A length of `pt` points in drawing units.
    pub fn pt(&self, pt: f64) -> i32 {
        (pt * 2.0).round() as i32
    }
}

/// Parses a length with its unit: `3.5in`, `89mm`, `8.9cm`, `252pt`; in inches.
pub fn parse_length(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let split = t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let v: f64 = num.trim().parse().map_err(|_| format!("'{text}': expected a length such as 3.5in or 89mm"))?;
    let per_inch = match unit {
        "in" => 1.0,
        "mm" => 25.4,
        "cm" => 2.54,
        "pt" => 72.0,
        "" => return Err(format!("'{text}': give a unit: in, mm, cm or pt (3.5in, 89mm)")),
        other => return Err(format!("'{text}': unknown unit '{other}'; expected in, mm, cm or pt")),
    };
    Ok(v / per_inch)
}

/// Okabe & Ito's colour-blind-safe palette, most contrasting on white first (the pale
/// yellow last).
const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(0, 0, 0),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(240, 228, 66),
];

/// The colour of series `i`.
pub fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// A marker shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    /// Filled circle.
    Circle,
    /// Filled square.
    Square,
    /// Filled triangle, point up.
    Triangle,
    /// Filled diamond.
    Diamond,
    /// Triangle, point down.
    TriangleDown,
    /// Plus sign.
    Plus,
}

const MARKERS: [Marker; 6] =
    [Marker::Circle, Marker::Square, Marker::Triangle, Marker::Diamond, Marker::TriangleDown, Marker::Plus];

/// Dash patterns (dash, gap) in points; `None` is solid.
const DASHES: [Option<(f64, f64)>; 5] = [None, Some((4.0, 2.0)), Some((1.5, 1.5)), Some((7.0, 2.0)), Some((2.5, 3.0))];

/// How series `i` is drawn: colour, marker and dash all change with `i`, on different
/// cycles (8, 6 and 5), so two series differ in at least two of them up to 24 series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeriesStyle {
    /// Line and fill colour.
    pub color: RGBColor,
    /// Point marker.
    pub marker: Marker,
    /// Dash pattern, `None` for solid.
    pub dash: Option<(f64, f64)>,
}

/// The style of series `i`.
pub fn series(i: usize) -> SeriesStyle {
    SeriesStyle { color: color(i), marker: MARKERS[i % MARKERS.len()], dash: DASHES[i % DASHES.len()] }
}

/// The polygon of a marker of radius `r` (drawing units) around the origin: compose it
/// with an `EmptyElement` at a data point.
pub fn marker_points(m: Marker, r: i32) -> Vec<(i32, i32)> {
    let h = (r as f64 * 0.87).round() as i32;
    let t = (r as f64 * 0.3).round().max(1.0) as i32;
    match m {
        Marker::Plus => vec![
            (-t, -r),
            (t, -r),
            (t, -t),
            (r, -t),
            (r, t),
            (t, t),
            (t, r),
            (-t, r),
            (-t, t),
            (-r, t),
            (-r, -t),
            (-t, -t),
        ],
        Marker::Circle => (0..12)
            .map(|k| {
                let a = k as f64 * std::f64::consts::PI / 6.0;
                ((r as f64 * a.cos()).round() as i32, (r as f64 * a.sin()).round() as i32)
            })
            .collect(),
        Marker::Square => {
            let s = (r as f64 * 0.85).round() as i32;
            vec![(-s, -s), (s, -s), (s, s), (-s, s)]
        }
        Marker::Triangle => vec![(0, -r), (h, r / 2), (-h, r / 2)],
        Marker::TriangleDown => vec![(0, r), (h, -r / 2), (-h, -r / 2)],
        Marker::Diamond => vec![(0, -r), (r, 0), (0, r), (-r, 0)],
    }
}

/// The fill of a marker.
pub fn marker_style(s: &SeriesStyle) -> ShapeStyle {
    s.color.filled()
}

/// One entry of a legend.
#[derive(Debug, Clone, PartialEq)]
pub enum Key {
    /// A line (with its marker and dash).
    Line(SeriesStyle),
    /// A filled box (bars).
    Bar(RGBColor),
    /// A marker alone.
    Point(SeriesStyle),
    /// A plain solid line (a reference such as a roof).
    Rule(RGBColor),
}

/// The width in drawing units the legend of `entries` needs.
pub fn legend_width(area: &DrawingArea<SVGBackend<'_>, Shift>, size: &Size, entries: &[(String, Key)]) -> u32 {
    let font = size.measure(1.0);
    let text = entries.iter().map(|(t, _)| area.estimate_text_size(t, &font).map(|s| s.0).unwrap_or(0)).max();
    text.unwrap_or(0) + size.pt(30.0) as u32
}

/// Draws a legend into `area` (a column beside the panels, outside every data region):
/// an optional title, then one row per entry.
pub fn legend(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    size: &Size,
    title: Option<&str>,
    entries: &[(String, Key)],
) -> Result<(), PlotError> {
    let font = size.font(1.0);
    let row = size.pt(size.font_pt * 1.5);
    let (x0, mut y) = (size.pt(6.0), size.pt(24.0));
    if let Some(t) = title {
        area.draw(&Text::new(t.to_string(), (x0, y), size.font(1.0).pos(Pos::new(HPos::Left, VPos::Center))))
            .map_err(pe)?;
        y += row;
    }
    let w = size.pt(16.0);
    for (text, key) in entries {
        match key {
            Key::Line(s) => {
                let path = vec![(x0, y), (x0 + w, y)];
                draw_path(area, path, s)?;
                area.draw(
                    &(EmptyElement::at((x0 + w / 2, y))
                        + Polygon::new(marker_points(s.marker, size.pt(2.5)), s.color.filled())),
                )
                .map_err(pe)?;
            }
            Key::Point(s) => {
                area.draw(
                    &(EmptyElement::at((x0 + w / 2, y))
                        + Polygon::new(marker_points(s.marker, size.pt(2.5)), s.color.filled())),
                )
                .map_err(pe)?;
            }
            Key::Rule(c) => {
                area.draw(&PathElement::new(vec![(x0, y), (x0 + w, y)], c.stroke_width(3))).map_err(pe)?;
            }
            Key::Bar(c) => {
                let h = size.pt(3.5);
                area.draw(&Rectangle::new([(x0 + 2, y - h), (x0 + w - 2, y + h)], c.filled())).map_err(pe)?;
            }
        }
        area.draw(&Text::new(text.clone(), (x0 + w + size.pt(4.0), y), font.pos(Pos::new(HPos::Left, VPos::Center))))
            .map_err(pe)?;
        y += row;
    }
    Ok(())
}

fn draw_path(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    pts: Vec<(i32, i32)>,
    s: &SeriesStyle,
) -> Result<(), PlotError> {
    let st = s.color.stroke_width(3);
    match s.dash {
        None => area.draw(&PathElement::new(pts, st)).map_err(pe),
        Some((d, g)) => area.draw(&DashedPathElement::new(pts, (d * 2.0) as i32, (g * 2.0) as i32, st)).map_err(pe),
    }
}

/// A line through data points in the series' colour and dash.
pub fn line<X: 'static + Clone, Y: 'static + Clone, CT>(
    chart: &mut ChartContext<'_, SVGBackend<'_>, CT>,
    pts: Vec<(X, Y)>,
    s: &SeriesStyle,
) -> Result<(), PlotError>
where
    CT: plotters::coord::CoordTranslate<From = (X, Y)>,
{
    let st = s.color.stroke_width(3);
    match s.dash {
        None => chart.draw_series(LineSeries::new(pts, st)).map(|_| ()).map_err(pe),
        Some((d, g)) => chart
            .draw_series(DashedLineSeries::new(pts, (d * 2.0) as i32, (g * 2.0) as i32, st))
            .map(|_| ())
            .map_err(pe),
    }
}

/// Converts a drawing error.
pub fn pe<E: std::fmt::Display>(e: E) -> PlotError {
    PlotError(format!("drawing failed: {e}"))
}

/// A tick number: at most 4 significant digits, no trailing zeros (`12000`, `0.25`, `3`).
pub fn tick(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return if v == 0.0 { "0".into() } else { format!("{v}") };
    }
    let digits = (4 - 1 - v.abs().log10().floor() as i32).clamp(0, 12) as usize;
    let s = format!("{v:.digits$}");
    let s = if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s };
    if s == "-0" {
        "0".into()
    } else {
        s
    }
}

/// A unit that keeps the numbers of an axis whose largest value is `max` (in the base
/// unit) below 1000: (divisor, unit name). `units` are (divisor, name) from small to large.
pub fn unit_for(max: f64, units: &[(f64, &'static str)]) -> (f64, &'static str) {
    let mut pick = units[0];
    for &u in units {
        if max.is_finite() && max >= u.0 {
            pick = u;
        }
    }
    pick
}

/// Energy units over picojoules.
pub const ENERGY_UNITS: &[(f64, &str)] = &[(1e6, "µJ"), (1e9, "mJ"), (1e12, "J")];
/// Time units over seconds.
pub const TIME_UNITS: &[(f64, &str)] = &[(1e-6, "µs"), (1e-3, "ms"), (1.0, "s")];

/// Draws category labels under a chart's x axis, each at its position `x` (chart units),
/// vertical and ending at the axis when `rotate` (so none hides behind the bars or runs off
/// the figure), then the axis title below them. `top` is the y (drawing units, in `root`)
/// of the axis line.
pub fn x_categories(
    root: &DrawingArea<SVGBackend<'_>, Shift>,
    size: &Size,
    at: &[(i32, String)],
    top: i32,
    rotate: bool,
    title: &str,
) -> Result<i32, PlotError> {
    let font = size.font(1.0);
    let gap = size.pt(3.0);
    let mut depth = 0;
    for (x, text) in at {
        let (w, h) = root.estimate_text_size(text, &size.measure(1.0)).map_err(pe)?;
        if rotate {
            let style = font.transform(FontTransform::Rotate270).pos(Pos::new(HPos::Right, VPos::Center));
            root.draw(&Text::new(text.clone(), (*x, top + gap), style)).map_err(pe)?;
            depth = depth.max(w as i32);
        } else {
            root.draw(&Text::new(text.clone(), (*x, top + gap), font.pos(Pos::new(HPos::Center, VPos::Top))))
                .map_err(pe)?;
            depth = depth.max(h as i32);
        }
        root.draw(&PathElement::new(vec![(*x, top), (*x, top + gap / 2)], BLACK.stroke_width(1))).map_err(pe)?;
    }
    let y = top + gap + depth + size.pt(4.0);
    if !title.is_empty() {
        let cx = if at.is_empty() { 0 } else { (at[0].0 + at[at.len() - 1].0) / 2 };
        root.draw(&Text::new(title.to_string(), (cx, y), size.font(1.05).pos(Pos::new(HPos::Center, VPos::Top))))
            .map_err(pe)?;
    }
    Ok(y)
}

/// The height (drawing units) category labels and the axis title take under an axis.
pub fn x_categories_height(
    root: &DrawingArea<SVGBackend<'_>, Shift>,
    size: &Size,
    labels: &[String],
    rotate: bool,
) -> u32 {
    let font = size.measure(1.0);
    let dims = labels.iter().filter_map(|t| root.estimate_text_size(t, &font).ok());
    let depth = if rotate { dims.map(|d| d.0).max() } else { dims.map(|d| d.1).max() };
    depth.unwrap_or(0) + size.pt(size.font_pt * 1.05 * 1.3 + 10.0) as u32
}

/// Whether category labels must be vertical: when their widths would overlap side by
/// side in `width` drawing units.
pub fn must_rotate(root: &DrawingArea<SVGBackend<'_>, Shift>, size: &Size, labels: &[String], width: u32) -> bool {
    let font = size.measure(1.0);
    let widest = labels.iter().filter_map(|t| root.estimate_text_size(t, &font).ok()).map(|d| d.0).max();
    let slot = width as f64 / labels.len().max(1) as f64;
    widest.is_some_and(|w| w as f64 > slot * 0.9)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_have_no_needless_decimals() {
        assert_eq!(tick(12000.0), "12000");
        assert_eq!(tick(2.5), "2.5");
        assert_eq!(tick(0.25), "0.25");
        assert_eq!(tick(3.0), "3");
        assert_eq!(tick(0.0), "0");
        assert_eq!(tick(1.23456), "1.235");
    }

    #[test]
    fn lengths_need_a_unit() {
        assert_eq!(parse_length("3.5in").unwrap(), 3.5);
        assert!((parse_length("89mm").unwrap() - 3.504).abs() < 1e-3);
        assert_eq!(parse_length("252pt").unwrap(), 3.5);
        assert!(parse_length("3.5").unwrap_err().contains("give a unit"));
        assert!(parse_length("3ft").unwrap_err().contains("unknown unit"));
    }

    #[test]
    fn units_keep_numbers_small() {
        assert_eq!(unit_for(1.2e10, ENERGY_UNITS), (1e9, "mJ"));
        assert_eq!(unit_for(5e6, ENERGY_UNITS), (1e6, "µJ"));
        assert_eq!(unit_for(0.004, TIME_UNITS), (1e-3, "ms"));
    }

    #[test]
    fn series_differ_in_two_of_colour_marker_and_dash() {
        for i in 0..24 {
            for j in 0..i {
                let (a, b) = (series(i), series(j));
                let same = [a.color == b.color, a.marker == b.marker, a.dash == b.dash];
                assert!(same.iter().filter(|s| **s).count() <= 1, "{i} {j}");
            }
        }
    }
}
