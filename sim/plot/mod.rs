//! Figures a paper can take as they are, from a sweep's output (`accelsim sweep`, CSV or
//! JSON): drawn once as SVG with `plotters` and the bundled DejaVu Sans (`assets/`), then
//! written as SVG, vector PDF or PNG ([`export`]), sized in inches with the text in points
//! ([`style`]).
//!
//! Kinds: latency and energy vs bit width per accelerator (one row of panels per network),
//! stacked energy breakdown, per-layer latency (one panel per network), roofline (needs
//! `--per-layer` rows), Pareto front (energy vs SQNR when a `sqnr_db` column exists, else
//! energy vs latency; one front per network), speedup over a baseline accelerator, and the
//! layers x bits heat map of `accelsim sensitivity`'s CSV.
//! What a figure leaves out (points beyond a limit, points without a baseline) and doubtful
//! inputs (an SQNR of ~0 dB everywhere) come back as warnings for the caller to print.

mod data;
pub mod export;
pub mod style;

pub use data::{PlotError, Table};
pub use export::FileFormat;
pub use style::Size;

use plotters::coord::Shift;
use plotters::element::{EmptyElement, Polygon};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::collections::BTreeMap;
use style::{pe, series, tick, Key, ENERGY_UNITS, TIME_UNITS};

/// Which figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlotKind {
    /// Latency and energy vs weight bits, one line per accelerator (a row per network).
    LatencyVsBits,
    /// Stacked energy per design point: MAC, buffers, DRAM, vector.
    EnergyBreakdown,
    /// Latency of each layer (a panel per network).
    PerLayer,
    /// Each layer on its accelerator's roofline.
    Roofline,
    /// Pareto front of energy vs SQNR (or vs latency), one per network.
    Pareto,
    /// Speedup over a baseline accelerator.
    Speedup,
    /// Layers x bits heat map of `accelsim sensitivity` output.
    Sensitivity,
}

/// What to draw.
#[derive(Debug, Clone, PartialEq)]
pub struct PlotOptions {
    /// The figure.
    pub kind: PlotKind,
    /// Baseline accelerator name for [`PlotKind::Speedup`] (default: the first).
    pub baseline: Option<String>,
    /// Design points to draw (per-layer, roofline, energy breakdown; default: the first ones).
    pub points: Vec<usize>,
    /// The SQNR column of the Pareto figure (`sqnr_db` when `None`; `logits_sqnr_db` for
    /// networks whose softmax output is too flat to measure, e.g. random-weight built-ins).
    pub sqnr_column: Option<String>,
    /// Width in inches (default: 7, a two-column paper's full width).
    pub width_in: Option<f64>,
    /// Height in inches (default: per kind, and per panel for faceted figures).
    pub height_in: Option<f64>,
    /// Text size in points (default 8).
    pub font_pt: Option<f64>,
}

impl PlotOptions {
    /// Options for `kind` with every other field at its default.
    pub fn new(kind: PlotKind) -> Self {
        PlotOptions {
            kind,
            baseline: None,
            points: Vec::new(),
            sqnr_column: None,
            width_in: None,
            height_in: None,
            font_pt: None,
        }
    }
}

/// A drawn figure and what the reader should be told about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Drawn {
    /// The SVG text, sized in inches.
    pub svg: String,
    /// What the figure left out or why a value may mislead.
    pub warnings: Vec<String>,
}

pub(crate) const FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // The bundled font is valid; a failure would only mean text is not measured.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// Panels (facets) a figure of `kind` draws for the table, for its default height.
fn panels(t: &Table, kind: PlotKind) -> usize {
    let models = t.ok_rows(true).map(|r| distinct(t, &r, "model")).unwrap_or(1).max(1);
    match kind {
        PlotKind::LatencyVsBits | PlotKind::PerLayer => models,
        PlotKind::Pareto => models.div_ceil(2),
        _ => 1,
    }
}

/// The figure's size: the options', else 7 in wide and a height per kind (per row of panels).
pub fn size(t: &Table, o: &PlotOptions) -> Size {
    let per_row = match o.kind {
        PlotKind::LatencyVsBits => 2.4,
        PlotKind::PerLayer => 2.8,
        PlotKind::EnergyBreakdown | PlotKind::Speedup => 3.2,
        PlotKind::Roofline => 3.0,
        PlotKind::Pareto => 3.0,
        PlotKind::Sensitivity => return sensitivity_size(t, o),
    };
    Size {
        width_in: o.width_in.unwrap_or(7.0),
        height_in: o.height_in.unwrap_or(per_row * panels(t, o.kind).min(6) as f64),
        font_pt: o.font_pt.unwrap_or(8.0),
    }
}

/// Draws the figure.
pub fn render(t: &Table, o: &PlotOptions) -> Result<Drawn, PlotError> {
    t.check_measurements()?;
    register_font();
    let size = size(t, o);
    size.check()?;
    let (w, h) = size.units();
    let mut s = String::new();
    let mut warnings = Vec::new();
    {
        let root = SVGBackend::with_string(&mut s, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(pe)?;
        let f = Fig { root: &root, size, warnings: &mut warnings };
        match o.kind {
            PlotKind::LatencyVsBits => latency_vs_bits(f, t),
            PlotKind::EnergyBreakdown => energy_breakdown(f, t, o),
            PlotKind::PerLayer => per_layer(f, t, o),
            PlotKind::Roofline => roofline(f, t, o),
            PlotKind::Pareto => pareto(f, t, o.sqnr_column.as_deref().unwrap_or("sqnr_db")),
            PlotKind::Speedup => speedup(f, t, o),
            PlotKind::Sensitivity => sensitivity(f, t, o.sqnr_column.as_deref().unwrap_or("output_sqnr_db")),
        }?;
        root.present().map_err(pe)?;
    }
    // Physical size: the drawing units are 1/144 in.
    let header = format!("width=\"{w}\" height=\"{h}\"");
    let sized = format!("width=\"{}in\" height=\"{}in\"", size.width_in, size.height_in);
    Ok(Drawn { svg: s.replacen(&header, &sized, 1), warnings })
}

/// Renders the figure as SVG text.
pub fn svg(t: &Table, o: &PlotOptions) -> Result<String, PlotError> {
    render(t, o).map(|d| d.svg)
}

/// What every figure function draws on.
struct Fig<'a, 'b> {
    root: &'a DrawingArea<SVGBackend<'b>, Shift>,
    size: Size,
    warnings: &'a mut Vec<String>,
}

type Area<'b> = DrawingArea<SVGBackend<'b>, Shift>;

/// Splits off the legend column at the right; returns (panels area, legend area).
fn with_legend<'b>(f: &Fig<'_, 'b>, entries: &[(String, Key)]) -> (Area<'b>, Area<'b>) {
    let (w, _) = f.root.dim_in_pixel();
    let lw = style::legend_width(f.root, &f.size, entries).min(w / 2);
    f.root.split_horizontally(w - lw)
}

/// A short label of a design point: hw, model if several, widths, `--set` values.
fn point_label(t: &Table, r: &[String], many_models: bool) -> String {
    let get = |c: &str| t.col(c).map(|i| r[i].as_str()).unwrap_or("");
    let mut s = get("hw").to_string();
    if many_models {
        s.push_str(&format!(" {}", get("model")));
    }
    s.push_str(&format!(" w{}a{}", get("wbits"), get("abits")));
    for c in t.set_columns() {
        s.push_str(&format!(" {}={}", t.header[c].rsplit('.').next().unwrap_or(""), r[c]));
    }
    s
}

fn distinct(t: &Table, rows: &[&Vec<String>], col: &str) -> usize {
    let Some(c) = t.col(col) else { return 0 };
    rows.iter().map(|r| r[c].as_str()).collect::<std::collections::BTreeSet<_>>().len()
}

/// The distinct values of a column, in order of first appearance.
fn values_in_order(t: &Table, rows: &[&Vec<String>], col: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    if let Some(c) = t.col(col) {
        for r in rows {
            if !out.contains(&r[c]) {
                out.push(r[c].clone());
            }
        }
    }
    out
}

fn latency_s(t: &Table, r: &[String]) -> f64 {
    let over = t.col("overhead_s").map(|c| t.num(r, c)).filter(|x| x.is_finite()).unwrap_or(0.0);
    t.col("latency_s").map(|c| t.num(r, c)).unwrap_or(f64::NAN) + over
}

fn finite_max(v: impl Iterator<Item = f64>) -> f64 {
    v.filter(|x| x.is_finite()).fold(0.0, f64::max)
}

fn top(v: f64) -> f64 {
    if v.is_finite() && v > 0.0 {
        v * 1.08
    } else {
        1.0
    }
}

/// The mesh every cartesian panel shares: light grid, tick numbers without needless
/// decimals, axis titles.
fn mesh<'a, 'b, X, Y>(
    chart: &mut ChartContext<'a, SVGBackend<'b>, Cartesian2d<X, Y>>,
    size: &Size,
    xdesc: Option<&str>,
    ydesc: &str,
) -> Result<(), PlotError>
where
    X: plotters::coord::ranged1d::Ranged<ValueType = f64> + plotters::coord::ranged1d::ValueFormatter<f64>,
    Y: plotters::coord::ranged1d::Ranged<ValueType = f64> + plotters::coord::ranged1d::ValueFormatter<f64>,
{
    let grid = RGBColor(225, 225, 225);
    let mut m = chart.configure_mesh();
    m.bold_line_style(grid.stroke_width(1))
        .light_line_style(WHITE.mix(0.0))
        .y_desc(ydesc)
        .y_label_formatter(&|v| tick(*v))
        .label_style(size.font(1.0))
        .axis_desc_style(size.font(1.05))
        .axis_style(BLACK.stroke_width(1))
        .y_labels(6);
    match xdesc {
        Some(d) => {
            m.x_desc(d).x_label_formatter(&|v| tick(*v)).x_labels(8);
        }
        None => {
            m.disable_x_mesh().x_labels(0);
        }
    }
    m.draw().map_err(pe)
}

/// A cartesian panel with a caption, its x label area sized for custom category labels.
fn panel<'a, 'b>(
    area: &'a Area<'b>,
    size: &Size,
    title: &str,
    x: std::ops::Range<f64>,
    y: std::ops::Range<f64>,
    x_area: u32,
) -> Result<
    ChartContext<
        'a,
        SVGBackend<'b>,
        Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
    >,
    PlotError,
> {
    let mut b = ChartBuilder::on(area);
    if !title.is_empty() {
        b.caption(title, size.font(1.2));
    }
    b.margin(size.pt(5.0))
        .margin_right(size.pt(8.0))
        .x_label_area_size(x_area)
        .y_label_area_size(size.pt(size.font_pt * 4.8))
        .build_cartesian_2d(span(x.start, x.end, false)?, span(y.start, y.end, false)?)
        .map_err(pe)
}

/// An axis range every chart is built on: finite, increasing, and positive on a log
/// scale. Values the data cannot give a drawable range for (all missing, infinite) are an
/// error instead of a plotters panic or an endless tick search.
fn span(lo: f64, hi: f64, log: bool) -> Result<std::ops::Range<f64>, PlotError> {
    let (min, max) =
        if log { (data::DRAWABLE.0 / 1e6, data::DRAWABLE.1 * 1e6) } else { (-f64::MAX / 4.0, f64::MAX / 4.0) };
    if !(lo.is_finite() && hi.is_finite() && lo < hi && lo >= min && hi <= max) {
        return Err(PlotError(format!(
            "no drawable axis range ({lo} to {hi}): the input has no finite values in a drawable range (1e-30 to 1e30)"
        )));
    }
    Ok(lo..hi)
}

// ---------------------------------------------------------------------------------------

fn latency_vs_bits(f: Fig, t: &Table) -> Result<(), PlotError> {
    let rows = t.ok_rows(true)?;
    if rows.is_empty() {
        return Err(PlotError("no successful design points to plot".into()));
    }
    let (hw, model, wb, ab, en) =
        (t.need("hw")?, t.need("model")?, t.need("wbits")?, t.need("abits")?, t.need("energy_pj")?);
    let networks = values_in_order(t, &rows, "model");
    let many_abits = distinct(t, &rows, "abits") > 1;
    let sets = t.set_columns();
    // Series (the same in every network's panels): hw, abits if several, set values.
    let name_of = |r: &Vec<String>| {
        let mut name = r[hw].clone();
        if many_abits {
            name.push_str(&format!(" a{}", r[ab]));
        }
        for &c in &sets {
            name.push_str(&format!(" {}={}", t.header[c].rsplit('.').next().unwrap_or(""), r[c]));
        }
        name
    };
    let mut names: Vec<String> = Vec::new();
    // (network, series) -> bits -> (latency s, energy pJ); the first point of each wins.
    let mut data: BTreeMap<(usize, usize), BTreeMap<u32, (f64, f64)>> = BTreeMap::new();
    for r in &rows {
        let name = name_of(r);
        let si = match names.iter().position(|n| *n == name) {
            Some(i) => i,
            None => {
                names.push(name);
                names.len() - 1
            }
        };
        let ni = networks.iter().position(|n| *n == r[model]).unwrap_or(0);
        let Ok(bits) = r[wb].parse::<u32>() else { continue };
        data.entry((ni, si)).or_default().entry(bits).or_insert((latency_s(t, r), t.num(r, en)));
    }
    let bits: std::collections::BTreeSet<u32> = data.values().flat_map(|m| m.keys().copied()).collect();
    let lg = |b: u32| (b.max(1) as f64).log2();
    let (b0, b1) = (bits.first().copied().unwrap_or(8), bits.last().copied().unwrap_or(8));
    let (x0, x1) = (lg(b0) - 0.35, lg(b1) + 0.35);
    let entries: Vec<(String, Key)> =
        names.iter().enumerate().map(|(i, n)| (n.clone(), Key::Line(series(i)))).collect();
    let (main, side) = with_legend(&f, &entries);
    style::legend(&side, &f.size, Some("accelerator"), &entries)?;
    let lat_max = finite_max(data.values().flat_map(|m| m.values().map(|v| v.0)));
    let en_max = finite_max(data.values().flat_map(|m| m.values().map(|v| v.1)));
    let (tdiv, tunit) = style::unit_for(lat_max, TIME_UNITS);
    let (ediv, eunit) = style::unit_for(en_max, ENERGY_UNITS);
    let grid = main.split_evenly((networks.len(), 2));
    let many = networks.len() > 1;
    let labels: Vec<String> = bits.iter().map(|b| b.to_string()).collect();
    let x_area = style::x_categories_height(f.root, &f.size, &labels, false);
    for (ni, net) in networks.iter().enumerate() {
        for k in 0..2 {
            let area = &grid[ni * 2 + k];
            let (what, unit, div) = if k == 0 { ("latency", tunit, tdiv) } else { ("energy", eunit, ediv) };
            let pick = |v: &(f64, f64)| if k == 0 { v.0 / div } else { v.1 / div };
            let ymax = finite_max(data.iter().filter(|((n, _), _)| *n == ni).flat_map(|(_, m)| m.values().map(pick)));
            let title =
                if many { format!("{net}: {what}") } else { format!("{}{}", what[..1].to_uppercase(), &what[1..]) };
            let mut chart = panel(area, &f.size, &title, x0..x1, 0.0..top(ymax), x_area)?;
            mesh(&mut chart, &f.size, None, &format!("{what} ({unit})"))?;
            // A small sideways dodge per series keeps identical series visible.
            let n = names.len() as f64;
            for ((_, si), m) in data.iter().filter(|((n, _), _)| *n == ni) {
                let st = series(*si);
                let dx = (*si as f64 - (n - 1.0) / 2.0) * 0.025;
                let pts: Vec<(f64, f64)> =
                    m.iter().map(|(b, v)| (lg(*b) + dx, pick(v))).filter(|p| p.1.is_finite()).collect();
                style::line(&mut chart, pts.clone(), &st)?;
                let r = f.size.pt(2.5);
                chart
                    .draw_series(pts.iter().map(|p| {
                        EmptyElement::at(*p) + Polygon::new(style::marker_points(st.marker, r), st.color.filled())
                    }))
                    .map_err(pe)?;
            }
            let axis_y = chart.backend_coord(&(x0, 0.0)).1;
            let at: Vec<(i32, String)> =
                bits.iter().map(|b| (chart.backend_coord(&(lg(*b), 0.0)).0, b.to_string())).collect();
            style::x_categories(f.root, &f.size, &at, axis_y, false, "weight bits (log scale)")?;
        }
    }
    Ok(())
}

/// The rows a figure that draws design points keeps: `--point`, else the first `limit`
/// (with a warning saying so).
fn chosen_points<'r>(
    f: &mut Fig,
    t: &Table,
    rows: Vec<&'r Vec<String>>,
    points: &[usize],
    limit: usize,
) -> Result<Vec<&'r Vec<String>>, PlotError> {
    let pcol = t.need("point")?;
    if !points.is_empty() {
        let kept: Vec<_> =
            rows.into_iter().filter(|r| r[pcol].parse().is_ok_and(|p: usize| points.contains(&p))).collect();
        if kept.is_empty() {
            return Err(PlotError(format!("none of the points {points:?} is a successful design point of the input")));
        }
        return Ok(kept);
    }
    let n = rows.len();
    if n > limit {
        f.warnings.push(format!(
            "drew the first {limit} of {n} design points (points {}..{}); choose others with --point",
            rows[0][pcol],
            rows[limit - 1][pcol]
        ));
    }
    Ok(rows.into_iter().take(limit).collect())
}

fn energy_breakdown(mut f: Fig, t: &Table, o: &PlotOptions) -> Result<(), PlotError> {
    let rows = t.ok_rows(true)?;
    if rows.is_empty() {
        return Err(PlotError("no successful design points to plot".into()));
    }
    let rows = chosen_points(&mut f, t, rows, &o.points, 40)?;
    let parts = [
        ("MAC", "energy_mac_pj"),
        ("buffers", "energy_buffers_pj"),
        ("DRAM", "energy_dram_pj"),
        ("vector", "energy_vector_pj"),
    ];
    let cols = parts.iter().map(|(_, c)| t.need(c)).collect::<Result<Vec<_>, _>>()?;
    let many_models = distinct(t, &rows, "model") > 1;
    let labels: Vec<String> = rows.iter().map(|r| point_label(t, r, many_models)).collect();
    let total = |r: &Vec<String>| cols.iter().map(|&c| t.num(r, c)).filter(|v| v.is_finite()).sum::<f64>();
    let (div, unit) = style::unit_for(finite_max(rows.iter().map(|r| total(r))), ENERGY_UNITS);
    let ymax = finite_max(rows.iter().map(|r| total(r) / div));
    let entries: Vec<(String, Key)> =
        parts.iter().enumerate().map(|(k, (n, _))| (n.to_string(), Key::Bar(style::color(k)))).collect();
    let (main, side) = with_legend(&f, &entries);
    style::legend(&side, &f.size, Some("energy"), &entries)?;
    let n = rows.len();
    let rotate = style::must_rotate(f.root, &f.size, &labels, main.dim_in_pixel().0);
    let x_area = style::x_categories_height(f.root, &f.size, &labels, rotate);
    let mut chart = panel(&main, &f.size, "Energy per inference", -0.5..(n as f64 - 0.5), 0.0..top(ymax), x_area)?;
    mesh(&mut chart, &f.size, None, &format!("energy per inference ({unit})"))?;
    let mut base = vec![0.0; n];
    for (k, &c) in cols.iter().enumerate() {
        let col = style::color(k);
        let bars: Vec<Rectangle<(f64, f64)>> = rows
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let v = t.num(r, c) / div;
                let v = if v.is_finite() { v } else { 0.0 };
                let rect = Rectangle::new([(i as f64 - 0.35, base[i]), (i as f64 + 0.35, base[i] + v)], col.filled());
                base[i] += v;
                rect
            })
            .collect();
        chart.draw_series(bars).map_err(pe)?;
    }
    let axis_y = chart.backend_coord(&(0.0, 0.0)).1;
    let at: Vec<(i32, String)> =
        labels.iter().enumerate().map(|(i, l)| (chart.backend_coord(&(i as f64, 0.0)).0, l.clone())).collect();
    style::x_categories(f.root, &f.size, &at, axis_y, rotate, "design point")?;
    Ok(())
}

/// Layer rows grouped by design point, in point order.
fn layers_by_point<'a>(t: &Table, rows: &[&'a Vec<String>]) -> Result<Vec<(usize, Vec<&'a Vec<String>>)>, PlotError> {
    let p = t.need("point")?;
    let mut out: Vec<(usize, Vec<&Vec<String>>)> = Vec::new();
    for r in rows {
        let idx: usize = r[p].parse().unwrap_or(usize::MAX);
        match out.last_mut() {
            Some((i, v)) if *i == idx => v.push(r),
            _ => out.push((idx, vec![r])),
        }
    }
    Ok(out)
}

fn per_layer(f: Fig, t: &Table, o: &PlotOptions) -> Result<(), PlotError> {
    let rows = t.ok_rows(false)?;
    let mut groups = layers_by_point(t, &rows)?;
    if groups.is_empty() {
        return Err(PlotError("no per-layer rows: run the sweep with --per-layer".into()));
    }
    let (lat, name, model) = (t.need("latency_s")?, t.need("layer")?, t.need("model")?);
    let networks = values_in_order(t, &rows, "model");
    if o.points.is_empty() {
        // The first 4 points of each network.
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        let before = groups.len();
        groups.retain(|(_, v)| {
            let n = seen.entry(v[0][model].clone()).or_insert(0);
            *n += 1;
            *n <= 4
        });
        if groups.len() < before {
            f.warnings.push(format!(
                "drew the first 4 design points of each network ({} of {}); choose others with --point",
                groups.len(),
                before
            ));
        }
    } else {
        groups.retain(|(p, _)| o.points.contains(p));
        if groups.is_empty() {
            return Err(PlotError(format!("none of the points {:?} has per-layer rows", o.points)));
        }
    }
    let totals = t.ok_rows(true)?;
    let pcol = t.need("point")?;
    let label = |p: usize| {
        totals
            .iter()
            .find(|r| r[pcol] == p.to_string())
            .map(|r| point_label(t, r, false))
            .unwrap_or(format!("point {p}"))
    };
    // Series: one per point label (the same label in two networks' panels is one series).
    let mut names: Vec<String> = Vec::new();
    for (p, _) in &groups {
        let l = label(*p);
        if !names.contains(&l) {
            names.push(l);
        }
    }
    let entries: Vec<(String, Key)> =
        names.iter().enumerate().map(|(i, n)| (n.clone(), Key::Bar(style::color(i)))).collect();
    let (main, side) = with_legend(&f, &entries);
    style::legend(&side, &f.size, Some("design point"), &entries)?;
    let shown: Vec<&String> = networks.iter().filter(|n| groups.iter().any(|(_, v)| v[0][model] == **n)).collect();
    let ymax = finite_max(groups.iter().flat_map(|(_, v)| v.iter().map(|r| t.num(r, lat))));
    let (div, unit) = style::unit_for(ymax, TIME_UNITS);
    let cells = main.split_evenly((shown.len(), 1));
    for (area, net) in cells.iter().zip(&shown) {
        let mine: Vec<&(usize, Vec<&Vec<String>>)> = groups.iter().filter(|(_, v)| v[0][model] == **net).collect();
        let layer_names: Vec<String> = mine[0].1.iter().map(|r| r[name].clone()).collect();
        let n = mine.iter().map(|(_, v)| v.len()).max().unwrap_or(1);
        let rotate = style::must_rotate(f.root, &f.size, &layer_names, area.dim_in_pixel().0);
        let x_area = style::x_categories_height(f.root, &f.size, &layer_names, rotate);
        let ymax = finite_max(mine.iter().flat_map(|(_, v)| v.iter().map(|r| t.num(r, lat) / div)));
        let title =
            if shown.len() > 1 { format!("{net}: per-layer latency") } else { format!("Per-layer latency: {net}") };
        let mut chart = panel(area, &f.size, &title, -0.5..(n as f64 - 0.5), 0.0..top(ymax), x_area)?;
        mesh(&mut chart, &f.size, None, &format!("latency ({unit})"))?;
        let w = 0.8 / mine.len() as f64;
        for (g, (p, v)) in mine.iter().enumerate() {
            let c = style::color(names.iter().position(|l| *l == label(*p)).unwrap_or(0));
            let bars: Vec<_> = v
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    let x = i as f64 - 0.4 + g as f64 * w;
                    let y = t.num(r, lat) / div;
                    Rectangle::new([(x, 0.0), (x + w * 0.9, if y.is_finite() { y } else { 0.0 })], c.filled())
                })
                .collect();
            chart.draw_series(bars).map_err(pe)?;
        }
        let axis_y = chart.backend_coord(&(0.0, 0.0)).1;
        let at: Vec<(i32, String)> =
            layer_names.iter().enumerate().map(|(i, l)| (chart.backend_coord(&(i as f64, 0.0)).0, l.clone())).collect();
        style::x_categories(f.root, &f.size, &at, axis_y, rotate, "layer")?;
    }
    Ok(())
}

fn roofline(f: Fig, t: &Table, o: &PlotOptions) -> Result<(), PlotError> {
    let rows = t.ok_rows(false)?;
    let groups = layers_by_point(t, &rows)?;
    let want = o.points.first().copied().or(groups.first().map(|(p, _)| *p));
    let Some((p, layers)) = groups.iter().find(|(p, _)| Some(*p) == want) else {
        return Err(PlotError("no per-layer rows for the roofline: run the sweep with --per-layer".into()));
    };
    if o.points.len() > 1 {
        f.warnings.push(format!("a roofline shows one design point: drew point {p}, not {:?}", &o.points[1..]));
    }
    let c = |n: &str| t.need(n);
    let (macs, lat, rd, wr, peak, bw, bound) = (
        c("macs")?,
        c("latency_s")?,
        c("dram_read_bytes")?,
        c("dram_write_bytes")?,
        c("peak_macs_per_s")?,
        c("dram_bytes_per_s")?,
        c("bound")?,
    );
    let pts: Vec<(f64, f64, bool)> = layers
        .iter()
        .filter_map(|r| {
            let (m, s, b) = (t.num(r, macs), t.num(r, lat), t.num(r, rd) + t.num(r, wr));
            (m > 0.0 && s > 0.0 && b > 0.0).then(|| (m / b, m / s / 1e9, r[bound] == "memory"))
        })
        .filter(|p| p.0.is_finite() && p.1.is_finite() && p.0 > 0.0 && p.1 > 0.0)
        .collect();
    if pts.is_empty() {
        return Err(PlotError(format!("point {p} has no layer with MACs and DRAM traffic")));
    }
    let peak_g = t.num(layers[0], peak) / 1e9;
    let bw_g = t.num(layers[0], bw) / 1e9;
    if !(peak_g.is_finite() && bw_g.is_finite() && peak_g > 0.0 && bw_g > 0.0) {
        return Err(PlotError(format!("point {p} has no peak throughput or DRAM bandwidth to draw a roof")));
    }
    let ridge = peak_g / bw_g;
    let xmin = pts.iter().map(|p| p.0).fold(f64::INFINITY, f64::min).min(ridge) / 3.0;
    let xmax = pts.iter().map(|p| p.0).fold(0.0, f64::max).max(ridge) * 3.0;
    let ymax = peak_g.max(pts.iter().map(|p| p.1).fold(0.0, f64::max)) * 2.0;
    let ymin = pts.iter().map(|p| p.1).fold(f64::INFINITY, f64::min).min(bw_g * xmin) / 2.0;
    let totals = t.ok_rows(true)?;
    let pcol = t.need("point")?;
    let label = totals.iter().find(|r| r[pcol] == p.to_string()).map(|r| point_label(t, r, true)).unwrap_or_default();
    let entries = vec![
        (format!("roof: {} GMAC/s, {} GB/s", tick(peak_g), tick(bw_g)), Key::Rule(BLACK)),
        ("compute-bound layers".to_string(), Key::Point(series(0))),
        ("memory-bound layers".to_string(), Key::Point(series(1))),
    ];
    let (main, side) = with_legend(&f, &entries);
    style::legend(&side, &f.size, None, &entries)?;
    let mut chart = ChartBuilder::on(&main)
        .caption(format!("Roofline: {label}"), f.size.font(1.2))
        .margin(f.size.pt(5.0))
        .margin_right(f.size.pt(8.0))
        .x_label_area_size(f.size.pt(f.size.font_pt * 3.6))
        .y_label_area_size(f.size.pt(f.size.font_pt * 4.8))
        .build_cartesian_2d(span(xmin, xmax, true)?.log_scale(), span(ymin, ymax, true)?.log_scale())
        .map_err(pe)?;
    chart
        .configure_mesh()
        .bold_line_style(RGBColor(225, 225, 225).stroke_width(1))
        .light_line_style(WHITE.mix(0.0))
        .x_desc("arithmetic intensity (MAC / DRAM byte, log)")
        .y_desc("throughput (GMAC/s, log)")
        .x_label_formatter(&|v| tick(*v))
        .y_label_formatter(&|v| tick(*v))
        .label_style(f.size.font(1.0))
        .axis_desc_style(f.size.font(1.05))
        .draw()
        .map_err(pe)?;
    let n = 200;
    let line: Vec<(f64, f64)> = (0..=n)
        .map(|i| {
            let x = xmin * (xmax / xmin).powf(i as f64 / n as f64);
            (x, (bw_g * x).min(peak_g))
        })
        .collect();
    chart.draw_series(LineSeries::new(line, BLACK.stroke_width(3))).map_err(pe)?;
    let r = f.size.pt(2.5);
    for (k, mem) in [false, true].iter().enumerate() {
        let st = series(k);
        chart
            .draw_series(pts.iter().filter(|p| p.2 == *mem).map(|p| {
                EmptyElement::at((p.0, p.1)) + Polygon::new(style::marker_points(st.marker, r), st.color.filled())
            }))
            .map_err(pe)?;
    }
    Ok(())
}

/// Indices of the points not dominated by another (both coordinates minimised), sorted by x.
pub fn pareto_front(pts: &[(f64, f64)]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..pts.len()).filter(|&i| pts[i].0.is_finite() && pts[i].1.is_finite()).collect();
    idx.sort_by(|&a, &b| pts[a].0.total_cmp(&pts[b].0).then(pts[a].1.total_cmp(&pts[b].1)));
    let mut front = Vec::new();
    let mut best = f64::INFINITY;
    for i in idx {
        if pts[i].1 < best {
            best = pts[i].1;
            front.push(i);
        }
    }
    front
}

/// The label of a Pareto point: what distinguishes it from the others of its network
/// (accelerator if several, widths, `--set` values such as the accumulator).
fn pareto_label(t: &Table, r: &[String], many_hw: bool) -> String {
    let get = |c: &str| t.col(c).map(|i| r[i].as_str()).unwrap_or("");
    let mut s = String::new();
    if many_hw {
        s.push_str(get("hw"));
        s.push(' ');
    }
    s.push_str(&format!("w{}a{}", get("wbits"), get("abits")));
    for c in t.set_columns() {
        let name = t.header[c].rsplit('.').next().unwrap_or("");
        let name = if name == "accumulator_bits" { "acc" } else { name };
        s.push_str(&format!(" {name}{}", r[c]));
    }
    s
}

fn pareto(f: Fig, t: &Table, sqnr_col: &str) -> Result<(), PlotError> {
    let rows = t.ok_rows(true)?;
    if rows.is_empty() {
        return Err(PlotError("no successful design points to plot".into()));
    }
    let (en, model) = (t.need("energy_pj")?, t.need("model")?);
    if sqnr_col != "sqnr_db" && t.col(sqnr_col).is_none() {
        return Err(PlotError(format!(
            "the input has no column '{sqnr_col}' (a functional sweep writes sqnr_db and logits_sqnr_db)"
        )));
    }
    // SQNR when a functional sweep measured it for some point, else the latency fallback.
    let sqnr = t.col(sqnr_col).filter(|&s| rows.iter().any(|r| t.num(r, s).is_finite()));
    // Only a dB column says nothing when it stays near 0; accuracies are fractions.
    if let Some(s) = sqnr.filter(|_| sqnr_col.ends_with("_db")) {
        let best = finite_max(rows.iter().map(|r| t.num(r, s).abs()));
        if best < 1.0 {
            f.warnings.push(format!(
                "{sqnr_col} is within 1 dB of 0 for every point: the output does not measure the quantization \
                 (random-weight built-in networks have a flat softmax output); try --sqnr-column logits_sqnr_db"
            ));
        }
    }
    let networks = values_in_order(t, &rows, "model");
    if sqnr.is_none() {
        f.warnings
            .push("the input has no SQNR (run the sweep with --functional): the front is energy vs latency".into());
    }
    let many_hw = distinct(t, &rows, "hw") > 1;
    let (ediv, eunit) = style::unit_for(finite_max(rows.iter().map(|r| t.num(r, en))), ENERGY_UNITS);
    let lat_all = finite_max(rows.iter().map(|r| latency_s(t, r)));
    let (tdiv, tunit) = style::unit_for(lat_all, TIME_UNITS);
    let front_style = series(1);
    // `accelsim search` output: its uniform-width points drawn apart from the mixed ones.
    let point_col = t.col("point");
    let uniform_style = series(2);
    let mut entries = vec![
        ("design point".to_string(), Key::Point(style::SeriesStyle { color: RGBColor(160, 160, 160), ..series(0) })),
        ("Pareto front".to_string(), Key::Line(front_style)),
    ];
    if point_col.is_some() {
        entries.push(("uniform widths".to_string(), Key::Point(uniform_style)));
    }
    let (main, side) = with_legend(&f, &entries);
    style::legend(&side, &f.size, None, &entries)?;
    let cols = if networks.len() > 1 { 2 } else { 1 };
    let cells = main.split_evenly((networks.len().div_ceil(cols), cols));
    for (area, net) in cells.iter().zip(&networks) {
        let mine: Vec<&&Vec<String>> = rows.iter().filter(|r| r[model] == *net).collect();
        let (what, xdesc, ydesc, drawn, minimised): (&str, String, String, Vec<(f64, f64)>, Vec<(f64, f64)>) =
            match sqnr {
                Some(s) => {
                    let d: Vec<(f64, f64)> = mine.iter().map(|r| (t.num(r, en) / ediv, t.num(r, s))).collect();
                    let m = d.iter().map(|p| (p.0, -p.1)).collect();
                    let (what, y) = if sqnr_col == "logits_sqnr_db" {
                        ("energy vs SQNR of the logits", "logits SQNR (dB)")
                    } else {
                        ("energy vs SQNR", "output SQNR (dB)")
                    };
                    (what, format!("energy per inference ({eunit})"), y.to_string(), d, m)
                }
                None => {
                    let d: Vec<(f64, f64)> =
                        mine.iter().map(|r| (latency_s(t, r) / tdiv, t.num(r, en) / ediv)).collect();
                    (
                        "energy vs latency (no SQNR in the input)",
                        format!("latency ({tunit})"),
                        format!("energy per inference ({eunit})"),
                        d.clone(),
                        d,
                    )
                }
            };
        let front = pareto_front(&minimised);
        let fin = |k: usize| drawn.iter().map(move |p| if k == 0 { p.0 } else { p.1 }).filter(|v| v.is_finite());
        let lo = |k| fin(k).fold(f64::INFINITY, f64::min);
        let hi = |k| fin(k).fold(f64::NEG_INFINITY, f64::max);
        let pad = |a: f64, b: f64| {
            if !(a.is_finite() && b.is_finite()) {
                return (0.0, 1.0);
            }
            let d = if b > a { (b - a) * 0.12 } else { a.abs().max(1e-9) * 0.1 };
            (a - d, b + d)
        };
        let ((x0, x1), (y0, y1)) = (pad(lo(0), hi(0)), pad(lo(1), hi(1)));
        let title = if networks.len() > 1 { net.clone() } else { format!("Pareto front: {what}") };
        let mut chart = ChartBuilder::on(area)
            .caption(title, f.size.font(1.1))
            .margin(f.size.pt(5.0))
            .margin_right(f.size.pt(10.0))
            .x_label_area_size(f.size.pt(f.size.font_pt * 3.6))
            .y_label_area_size(f.size.pt(f.size.font_pt * 4.8))
            .build_cartesian_2d(span(x0, x1, false)?, span(y0, y1, false)?)
            .map_err(pe)?;
        mesh(&mut chart, &f.size, Some(&xdesc), &ydesc)?;
        let grey = RGBColor(160, 160, 160);
        let r = f.size.pt(2.0);
        chart
            .draw_series(drawn.iter().filter(|p| p.0.is_finite() && p.1.is_finite()).map(|p| {
                EmptyElement::at(*p) + Polygon::new(style::marker_points(style::Marker::Circle, r), grey.filled())
            }))
            .map_err(pe)?;
        if let Some(pc) = point_col {
            let ru = f.size.pt(2.6);
            chart
                .draw_series(
                    drawn
                        .iter()
                        .zip(&mine)
                        .filter(|(p, r)| r[pc] == "uniform" && p.0.is_finite() && p.1.is_finite())
                        .map(|(p, _)| {
                            EmptyElement::at(*p)
                                + Polygon::new(
                                    style::marker_points(uniform_style.marker, ru),
                                    uniform_style.color.filled(),
                                )
                        }),
                )
                .map_err(pe)?;
        }
        let fp: Vec<(f64, f64)> = front.iter().map(|&i| drawn[i]).collect();
        style::line(&mut chart, fp.clone(), &front_style)?;
        let rf = f.size.pt(2.8);
        chart
            .draw_series(fp.iter().map(|p| {
                EmptyElement::at(*p)
                    + Polygon::new(style::marker_points(front_style.marker, rf), front_style.color.filled())
            }))
            .map_err(pe)?;
        // Each front point says which design it is; a label that would overlap the one
        // before goes below its point instead of above.
        let (above, below) = (Pos::new(HPos::Left, VPos::Bottom), Pos::new(HPos::Left, VPos::Top));
        let mut last: Option<(i32, i32, bool)> = None;
        for &i in &front {
            let (px, py) = chart.backend_coord(&drawn[i]);
            let text = pareto_label(t, mine[i], many_hw);
            let (tw, th) = f.root.estimate_text_size(&text, &f.size.measure(0.85)).map_err(pe)?;
            let x = px + f.size.pt(3.0);
            let clash = last.is_some_and(|(end, y, up)| up && x < end && (py - y).abs() < th as i32 * 2);
            let (pos, y) = if clash { (below, py + f.size.pt(2.0)) } else { (above, py - f.size.pt(2.0)) };
            f.root.draw(&Text::new(text, (x, y), f.size.font(0.85).pos(pos))).map_err(pe)?;
            last = Some((x + tw as i32, py, !clash));
        }
    }
    Ok(())
}

fn speedup(f: Fig, t: &Table, o: &PlotOptions) -> Result<(), PlotError> {
    let rows = t.ok_rows(true)?;
    let hw = t.need("hw")?;
    let Some(first) = rows.first() else {
        return Err(PlotError("no successful design points to plot".into()));
    };
    let base = o.baseline.clone().unwrap_or_else(|| first[hw].clone());
    let mut key_cols = vec![t.need("model")?, t.need("wbits")?, t.need("abits")?];
    key_cols.extend(t.set_columns());
    let key = |r: &[String]| key_cols.iter().map(|&c| r[c].clone()).collect::<Vec<_>>();
    let klabel = |k: &[String]| {
        let mut s = format!("{} w{}a{}", k[0], k[1], k[2]);
        for (i, &c) in key_cols.iter().enumerate().skip(3) {
            s.push_str(&format!(" {}={}", t.header[c].rsplit('.').next().unwrap_or(""), k[i]));
        }
        s
    };
    let mut base_lat: BTreeMap<Vec<String>, f64> = BTreeMap::new();
    for r in &rows {
        if r[hw] == base {
            base_lat.entry(key(r)).or_insert(latency_s(t, r));
        }
    }
    if base_lat.is_empty() {
        let names: std::collections::BTreeSet<&str> = rows.iter().map(|r| r[hw].as_str()).collect();
        return Err(PlotError(format!("baseline '{base}' is not in the input; accelerators: {names:?}")));
    }
    let pcol = t.need("point")?;
    let mut keys: Vec<Vec<String>> = Vec::new();
    let mut hws: Vec<String> = Vec::new();
    let mut dropped: Vec<String> = Vec::new();
    let mut vals: BTreeMap<(String, Vec<String>), f64> = BTreeMap::new();
    for r in &rows {
        let k = key(r);
        let Some(b) = base_lat.get(&k) else {
            dropped.push(format!("{} ({} {})", r[pcol], r[hw], klabel(&k)));
            continue;
        };
        if !keys.contains(&k) {
            keys.push(k.clone());
        }
        if !hws.contains(&r[hw]) {
            hws.push(r[hw].clone());
        }
        vals.entry((r[hw].clone(), k)).or_insert(b / latency_s(t, r));
    }
    if !dropped.is_empty() {
        f.warnings.push(format!(
            "left out {} design point(s) without a successful {base} point of the same network and widths: {}",
            dropped.len(),
            dropped.join(", ")
        ));
    }
    if keys.len() > 30 {
        f.warnings.push(format!("drew the first 30 of {} network/width groups", keys.len()));
        keys.truncate(30);
    }
    let labels: Vec<String> = keys.iter().map(|k| klabel(k)).collect();
    let ymax = vals.values().copied().filter(|v| v.is_finite()).fold(1.0, f64::max);
    let n = keys.len();
    let entries: Vec<(String, Key)> =
        hws.iter().enumerate().map(|(i, h)| (h.clone(), Key::Bar(style::color(i)))).collect();
    let (main, side) = with_legend(&f, &entries);
    style::legend(&side, &f.size, Some("accelerator"), &entries)?;
    let rotate = style::must_rotate(f.root, &f.size, &labels, main.dim_in_pixel().0);
    let x_area = style::x_categories_height(f.root, &f.size, &labels, rotate);
    let mut chart =
        panel(&main, &f.size, &format!("Speedup over {base}"), -0.5..(n as f64 - 0.5), 0.0..top(ymax), x_area)?;
    mesh(&mut chart, &f.size, None, &format!("speedup over {base} (×)"))?;
    let w = 0.8 / hws.len() as f64;
    for (h, name) in hws.iter().enumerate() {
        let c = style::color(h);
        let bars: Vec<_> = keys
            .iter()
            .enumerate()
            .filter_map(|(i, k)| {
                let v = *vals.get(&(name.clone(), k.clone()))?;
                let x = i as f64 - 0.4 + h as f64 * w;
                v.is_finite().then(|| Rectangle::new([(x, 0.0), (x + w * 0.9, v)], c.filled()))
            })
            .collect();
        chart.draw_series(bars).map_err(pe)?;
    }
    chart.draw_series(LineSeries::new(vec![(-0.5, 1.0), (n as f64 - 0.5, 1.0)], BLACK.stroke_width(1))).map_err(pe)?;
    let axis_y = chart.backend_coord(&(0.0, 0.0)).1;
    let at: Vec<(i32, String)> =
        labels.iter().enumerate().map(|(i, l)| (chart.backend_coord(&(i as f64, 0.0)).0, l.clone())).collect();
    style::x_categories(f.root, &f.size, &at, axis_y, rotate, "network and widths")?;
    Ok(())
}

/// The viridis colour map (perceptually uniform, colour-blind safe, readable in
/// greyscale) at `x` in [0, 1], from its anchor colours every eighth.
fn viridis(x: f64) -> RGBColor {
    const STOPS: [(f64, f64, f64); 9] = [
        (68.0, 1.0, 84.0),
        (71.0, 44.0, 122.0),
        (59.0, 81.0, 139.0),
        (44.0, 113.0, 142.0),
        (33.0, 144.0, 141.0),
        (39.0, 173.0, 129.0),
        (92.0, 200.0, 99.0),
        (170.0, 220.0, 50.0),
        (253.0, 231.0, 37.0),
    ];
    let x = if x.is_finite() { x.clamp(0.0, 1.0) } else { 0.0 } * (STOPS.len() - 1) as f64;
    let (i, frac) = ((x.floor() as usize).min(STOPS.len() - 2), x - x.floor().min((STOPS.len() - 2) as f64));
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    let mix = |p: f64, q: f64| (p + (q - p) * frac).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// The text of a heat-map cell: SQNR with one decimal, accuracies with three.
fn cell_text(v: f64, accuracy: bool) -> String {
    if !v.is_finite() {
        "–".into()
    } else if accuracy {
        format!("{v:.3}")
    } else {
        format!("{v:.1}")
    }
}

/// The sensitivity heat map (`accelsim sensitivity` output): a row per layer (graph order,
/// top down), a column per width, each cell coloured by `column` (viridis, dark = low) and
/// labelled with its value; a colour bar at the right.
fn sensitivity(f: Fig, t: &Table, column: &str) -> Result<(), PlotError> {
    let need = |c: &str| {
        t.col(c)
            .ok_or_else(|| PlotError(format!("the input has no '{c}' column; is it `accelsim sensitivity` output?")))
    };
    let (li, name, bits, vcol) = (need("layer_index")?, need("layer")?, need("bits")?, need(column)?);
    let what = t.col("what").and_then(|c| t.rows.first().map(|r| r[c].clone())).unwrap_or_default();
    let mut layers: Vec<(u64, String)> = Vec::new();
    let mut widths: Vec<u64> = Vec::new();
    let mut cells: BTreeMap<(u64, u64), f64> = BTreeMap::new();
    for r in &t.rows {
        let (Ok(l), Ok(b)) = (r[li].parse::<u64>(), r[bits].parse::<u64>()) else {
            return Err(PlotError(format!("row {:?}: layer_index and bits must be whole numbers", r)));
        };
        if !layers.iter().any(|(i, _)| *i == l) {
            layers.push((l, r[name].clone()));
        }
        if !widths.contains(&b) {
            widths.push(b);
        }
        cells.entry((l, b)).or_insert(t.num(r, vcol));
    }
    if layers.is_empty() {
        return Err(PlotError("no rows to plot".into()));
    }
    layers.sort();
    widths.sort();
    let finite: Vec<f64> = cells.values().copied().filter(|v| v.is_finite()).collect();
    let accuracy = column.contains("accuracy") || column.contains("agreement");
    let (lo, hi) = if accuracy {
        (finite.iter().copied().fold(1.0, f64::min).min(1.0), 1.0)
    } else {
        (finite.iter().copied().fold(f64::INFINITY, f64::min), finite.iter().copied().fold(f64::NEG_INFINITY, f64::max))
    };
    let missing = cells.values().filter(|v| !v.is_finite()).count();
    if missing > 0 {
        f.warnings.push(format!("{missing} cell(s) without a finite '{column}' value are drawn empty"));
    }
    let (lo, hi) = if lo.is_finite() && hi > lo { (lo, hi) } else { (lo - 1.0, lo + 1.0) };
    let scale = |v: f64| (v - lo) / (hi - lo);
    let (w, _) = f.root.dim_in_pixel();
    let bar_w = f.size.pt(f.size.font_pt * 7.0) as u32;
    let (main, side) = f.root.split_horizontally(w.saturating_sub(bar_w));
    let names: Vec<String> = layers.iter().map(|(_, n)| n.clone()).collect();
    let name_w = names
        .iter()
        .filter_map(|n| f.root.estimate_text_size(n, &f.size.measure(1.0)).ok())
        .map(|d| d.0)
        .max()
        .unwrap_or(0);
    let (nl, nb) = (layers.len() as f64, widths.len() as f64);
    let unit = if accuracy { "" } else { " (dB)" };
    let title = format!("{column}{unit}, one layer's {what} at b bits");
    let mut chart = ChartBuilder::on(&main)
        .caption(title, f.size.font(1.2))
        .margin(f.size.pt(5.0))
        .x_label_area_size(f.size.pt(f.size.font_pt * 3.2))
        .y_label_area_size(name_w + f.size.pt(6.0) as u32)
        .build_cartesian_2d(span(-0.5, nb - 0.5, false)?, span(-0.5, nl - 0.5, false)?)
        .map_err(pe)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(widths.len())
        .x_label_formatter(&|v| {
            let i = v.round();
            if (v - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < widths.len() {
                format!("{}", widths[i as usize])
            } else {
                String::new()
            }
        })
        .y_labels(0)
        .x_desc("bits")
        .label_style(f.size.font(1.0))
        .axis_desc_style(f.size.font(1.05))
        .axis_style(BLACK.stroke_width(1))
        .draw()
        .map_err(pe)?;
    let y_of = |row: usize| nl - 1.0 - row as f64;
    for (row, (l, _)) in layers.iter().enumerate() {
        for (col, b) in widths.iter().enumerate() {
            let Some(&v) = cells.get(&(*l, *b)) else { continue };
            let (x, y) = (col as f64, y_of(row));
            let fill = if v.is_finite() { viridis(scale(v)) } else { WHITE };
            chart
                .draw_series(std::iter::once(Rectangle::new([(x - 0.5, y - 0.5), (x + 0.5, y + 0.5)], fill.filled())))
                .map_err(pe)?;
            let light = v.is_finite() && scale(v) < 0.6;
            let style =
                f.size.font(0.85).color(if light { &WHITE } else { &BLACK }).pos(Pos::new(HPos::Center, VPos::Center));
            chart.draw_series(std::iter::once(Text::new(cell_text(v, accuracy), (x, y), style))).map_err(pe)?;
        }
    }
    // Layer names, ending at the axis.
    for (row, n) in names.iter().enumerate() {
        let (px, py) = chart.backend_coord(&(-0.5, y_of(row)));
        let style = f.size.font(1.0).pos(Pos::new(HPos::Right, VPos::Center));
        f.root.draw(&Text::new(n.clone(), (px - f.size.pt(3.0), py), style)).map_err(pe)?;
    }
    // The colour bar.
    let (_, top_y) = chart.backend_coord(&(0.0, nl - 0.5));
    let (_, bottom_y) = chart.backend_coord(&(0.0, -0.5));
    let x0 = f.size.pt(6.0);
    let bw = f.size.pt(f.size.font_pt * 1.2);
    let steps = 64;
    for i in 0..steps {
        let (a, b) = (i as f64 / steps as f64, (i + 1) as f64 / steps as f64);
        let y = |u: f64| bottom_y - ((bottom_y - top_y) as f64 * u).round() as i32;
        side.draw(&Rectangle::new([(x0, y(b)), (x0 + bw, y(a))], viridis((a + b) / 2.0).filled())).map_err(pe)?;
    }
    side.draw(&Rectangle::new([(x0, top_y), (x0 + bw, bottom_y)], BLACK.stroke_width(1))).map_err(pe)?;
    for k in 0..=4 {
        let u = k as f64 / 4.0;
        let y = bottom_y - ((bottom_y - top_y) as f64 * u).round() as i32;
        side.draw(&PathElement::new(vec![(x0 + bw, y), (x0 + bw + f.size.pt(2.0), y)], BLACK.stroke_width(1)))
            .map_err(pe)?;
        let v = lo + u * (hi - lo);
        let label = if accuracy { format!("{v:.3}") } else { tick((v * 10.0).round() / 10.0) };
        side.draw(&Text::new(
            label,
            (x0 + bw + f.size.pt(3.0), y),
            f.size.font(0.9).pos(Pos::new(HPos::Left, VPos::Center)),
        ))
        .map_err(pe)?;
    }
    Ok(())
}

/// The heat map's default size: 5 in wide, a row of 0.17 in per layer plus title and axis.
fn sensitivity_size(t: &Table, o: &PlotOptions) -> Size {
    let layers = t
        .col("layer_index")
        .map(|c| t.rows.iter().map(|r| r[c].as_str()).collect::<std::collections::BTreeSet<_>>().len())
        .unwrap_or(1);
    let font = o.font_pt.unwrap_or(8.0);
    Size {
        width_in: o.width_in.unwrap_or(5.0),
        height_in: o.height_in.unwrap_or((1.1 + layers as f64 * 0.17 * font / 8.0).min(40.0)),
        font_pt: font,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pareto_front_keeps_only_non_dominated_points() {
        let pts = [(1.0, 5.0), (2.0, 3.0), (2.5, 4.0), (3.0, 1.0), (4.0, 1.0), (f64::NAN, 0.0)];
        assert_eq!(pareto_front(&pts), vec![0, 1, 3]);
    }

    fn table(sqnr: [&str; 3], models: [&str; 3]) -> Table {
        let mut text = "point,hw,model,wbits,abits,layer,latency_s,energy_pj,error,sqnr_db\n".to_string();
        for (i, ((e, q), m)) in [1e6, 2e6, 3e6].iter().zip(sqnr).zip(models).enumerate() {
            text += &format!("{i},mac8,{m},{},8,TOTAL,0.00{},{e},,{q}\n", 2 + 2 * i, 3 - i);
        }
        Table::from_csv(&text).unwrap()
    }

    #[test]
    fn pareto_uses_sqnr_when_measured_and_falls_back_to_latency_otherwise() {
        let o = PlotOptions::new(PlotKind::Pareto);
        let with = render(&table(["10", "30", "20"], ["n"; 3]), &o).unwrap();
        assert!(with.svg.contains("energy vs SQNR") && with.svg.contains("output SQNR (dB)"));
        // (1 uJ, 10 dB) and (2 uJ, 30 dB) are the front, labelled with their widths.
        assert!(
            with.svg.contains("\nw2a8\n</text>")
                && with.svg.contains("\nw4a8\n</text>")
                && !with.svg.contains("\nw6a8\n</text>")
        );
        assert!(with.warnings.is_empty());
        let without = render(&table(["", "", ""], ["n"; 3]), &o).unwrap();
        assert!(without.svg.contains("energy vs latency") && without.svg.contains("latency (ms)"));
        let flat = render(&table(["0.1", "0.2", "0.1"], ["n"; 3]), &o).unwrap();
        assert!(flat.warnings[0].contains("logits_sqnr_db"), "{:?}", flat.warnings);
    }

    #[test]
    fn pareto_draws_one_front_per_network() {
        // Across networks, point 2 would dominate nothing; per network, each is its own front.
        let d = render(&table(["10", "30", "5"], ["a", "a", "b"]), &PlotOptions::new(PlotKind::Pareto)).unwrap();
        assert!(d.svg.contains("\na\n</text>") && d.svg.contains("\nb\n</text>"), "a panel per network");
        assert!(d.svg.contains("\nw6a8\n</text>"), "b's only point is its front");
    }

    #[test]
    fn figures_are_sized_in_inches() {
        let o = PlotOptions { width_in: Some(3.5), height_in: Some(2.5), ..PlotOptions::new(PlotKind::Pareto) };
        let svg = svg(&table(["10", "30", "20"], ["n"; 3]), &o).unwrap();
        assert!(svg.contains("width=\"3.5in\" height=\"2.5in\" viewBox=\"0 0 504 360\""), "{}", &svg[..200]);
    }
}
