//! Figure files: the SVG every figure is drawn as, converted to a vector PDF (`svg2pdf`,
//! with the bundled DejaVu Sans embedded and subset) or a PNG at a chosen resolution
//! (`resvg`), so the three formats show the same figure. Chosen by the output's extension.

use super::PlotError;
use std::sync::Arc;

/// A figure file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// Scalable vector graphics (text as text, in the bundled font's family).
    Svg,
    /// Vector PDF with the font embedded: what a paper's LaTeX takes.
    Pdf,
    /// A raster image at `--dpi`.
    Png,
}

impl FileFormat {
    /// The format of an output path's extension (`.svg`, `.pdf`, `.png`, any case).
    pub fn of_path(path: &std::path::Path) -> Result<FileFormat, PlotError> {
        let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("svg") => Ok(FileFormat::Svg),
            Some("pdf") => Ok(FileFormat::Pdf),
            Some("png") => Ok(FileFormat::Png),
            _ => Err(PlotError(format!(
                "{}: unknown figure format; the extension must be .svg, .pdf or .png",
                path.display()
            ))),
        }
    }
}

/// The bundled font, as usvg and svg2pdf resolve the SVG's `sans-serif` text.
fn options() -> usvg::Options<'static> {
    let mut db = usvg::fontdb::Database::new();
    db.load_font_data(super::FONT.to_vec());
    db.set_sans_serif_family("DejaVu Sans");
    usvg::Options { fontdb: Arc::new(db), font_family: "DejaVu Sans".into(), ..Default::default() }
}

fn tree(svg: &str) -> Result<usvg::Tree, PlotError> {
    usvg::Tree::from_str(svg, &options()).map_err(|e| PlotError(format!("internal: the figure's SVG is invalid: {e}")))
}

/// The bytes of the figure `svg` (sized in inches) in `format`; `dpi` is the resolution of
/// a PNG.
pub fn encode(svg: &str, format: FileFormat, dpi: f64) -> Result<Vec<u8>, PlotError> {
    match format {
        FileFormat::Svg => Ok(svg.as_bytes().to_vec()),
        FileFormat::Pdf => {
            let t = tree(svg)?;
            // usvg sizes the tree in CSS pixels (96 per inch).
            let page = svg2pdf::PageOptions { dpi: 96.0 };
            svg2pdf::to_pdf(&t, svg2pdf::ConversionOptions::default(), page)
                .map_err(|e| PlotError(format!("cannot convert the figure to PDF: {e}")))
        }
        FileFormat::Png => {
            let t = tree(svg)?;
            let scale = (dpi / 96.0) as f32;
            let size = t
                .size()
                .to_int_size()
                .scale_by(scale)
                .ok_or_else(|| PlotError(format!("--dpi {dpi}: the image would be empty or too large")))?;
            if u64::from(size.width()) * u64::from(size.height()) > 400_000_000 {
                return Err(PlotError(format!(
                    "--dpi {dpi}: a {}x{} pixel image is too large",
                    size.width(),
                    size.height()
                )));
            }
            let mut pixmap = resvg::tiny_skia::Pixmap::new(size.width(), size.height())
                .ok_or_else(|| PlotError(format!("--dpi {dpi}: cannot allocate the image")))?;
            pixmap.fill(resvg::tiny_skia::Color::WHITE);
            resvg::render(&t, resvg::tiny_skia::Transform::from_scale(scale, scale), &mut pixmap.as_mut());
            pixmap.encode_png().map_err(|e| PlotError(format!("cannot encode the PNG: {e}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SVG: &str = r#"<svg width="2in" height="1in" viewBox="0 0 288 144" xmlns="http://www.w3.org/2000/svg"><rect width="288" height="144" fill="white"/><text x="10" y="70" font-family="sans-serif" font-size="20">Energy 12 µJ</text></svg>"#;

    #[test]
    fn formats_come_from_the_extension() {
        use std::path::Path;
        assert_eq!(FileFormat::of_path(Path::new("a/f.PDF")).unwrap(), FileFormat::Pdf);
        assert_eq!(FileFormat::of_path(Path::new("f.png")).unwrap(), FileFormat::Png);
        let e = FileFormat::of_path(Path::new("f.jpg")).unwrap_err();
        assert!(e.0.contains(".svg, .pdf or .png"), "{e}");
    }

    #[test]
    fn png_has_the_size_the_dpi_gives_and_pdf_embeds_the_font() {
        let png = encode(SVG, FileFormat::Png, 150.0).unwrap();
        assert!(png.starts_with(b"\x89PNG"));
        let (w, h) =
            (u32::from_be_bytes(png[16..20].try_into().unwrap()), u32::from_be_bytes(png[20..24].try_into().unwrap()));
        assert_eq!((w, h), (300, 150));
        let pdf = encode(SVG, FileFormat::Pdf, 0.0).unwrap();
        assert!(pdf.starts_with(b"%PDF"));
        let text = String::from_utf8_lossy(&pdf);
        assert!(text.contains("DejaVuSans") && text.contains("FontFile2"), "font embedded");
        assert!(text.contains("/MediaBox [0 0 144 72]"), "2 x 1 inches");
    }
}
