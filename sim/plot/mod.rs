//! Paper-ready figures from a sweep CSV (`accelsim sweep` output): SVG by default, PNG on
//! request, drawn with `plotters` and the bundled DejaVu Sans (`assets/`), so no system
//! font library is needed.
//!
//! Kinds: latency and energy vs bit width per accelerator, stacked energy breakdown,
//! per-layer latency, roofline (needs `--per-layer` rows), Pareto front (energy vs SQNR
//! when a `sqnr_db` column exists, else energy vs latency, said in the title), and
//! speedup over a baseline accelerator.

mod data;

pub use data::{PlotError, Table};

use plotters::chart::{ChartContext, SeriesLabelStyle};
use plotters::coord::{CoordTranslate, Shift};
use plotters::prelude::*;
use std::collections::BTreeMap;

/// Which figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlotKind {
    /// Latency and energy vs weight bits, one line per accelerator (and network).
    LatencyVsBits,
    /// Stacked energy per design point: MAC, buffers, DRAM, vector.
    EnergyBreakdown,
    /// Latency of each layer.
    PerLayer,
    /// Each layer on its accelerator's roofline.
    Roofline,
    /// Pareto front of energy vs SQNR (or vs latency).
    Pareto,
    /// Speedup over a baseline accelerator.
    Speedup,
}

/// What to draw.
#[derive(Debug, Clone, PartialEq)]
pub struct PlotOptions {
    /// The figure.
    pub kind: PlotKind,
    /// Baseline accelerator name for [`PlotKind::Speedup`] (default: the first).
    pub baseline: Option<String>,
    /// Design points for per-layer figures (default: the first one, or up to 6 for per-layer).
    pub points: Vec<usize>,
    /// The SQNR column of the Pareto figure (`sqnr_db` when `None`; `logits_sqnr_db` for
    /// networks whose softmax output is too flat to measure, e.g. random-weight built-ins).
    pub sqnr_column: Option<String>,
}

const FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // The bundled font is valid; a failure would only mean text is not measured.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// The figure's size in pixels.
pub fn size(kind: PlotKind) -> (u32, u32) {
    match kind {
        PlotKind::LatencyVsBits => (1100, 480),
        PlotKind::EnergyBreakdown | PlotKind::PerLayer | PlotKind::Speedup => (1000, 560),
        _ => (800, 560),
    }
}

/// Renders the figure as SVG text.
pub fn svg(t: &Table, o: &PlotOptions) -> Result<String, PlotError> {
    register_font();
    let mut s = String::new();
    {
        let root = SVGBackend::with_string(&mut s, size(o.kind)).into_drawing_area();
        draw(&root, t, o)?;
        root.present().map_err(pe)?;
    }
    Ok(s)
}

/// Renders the figure as a PNG file at `path`.
pub fn png(t: &Table, o: &PlotOptions, path: &std::path::Path) -> Result<(), PlotError> {
    register_font();
    let root = BitMapBackend::new(path, size(o.kind)).into_drawing_area();
    draw(&root, t, o)?;
    root.present().map_err(pe)
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

fn pe<E: std::fmt::Display>(e: E) -> PlotError {
    PlotError(format!("drawing failed: {e}"))
}

fn color(i: usize) -> RGBColor {
    // Okabe-Ito, readable in print and by colour-blind readers, then Palette99.
    const C: [RGBColor; 8] = [
        RGBColor(0, 114, 178),
        RGBColor(213, 94, 0),
        RGBColor(0, 158, 115),
        RGBColor(204, 121, 167),
        RGBColor(230, 159, 0),
        RGBColor(86, 180, 233),
        RGBColor(0, 0, 0),
        RGBColor(240, 228, 66),
    ];
    if i < C.len() {
        C[i]
    } else {
        let c = Palette99::pick(i).to_rgba();
        RGBColor(c.0, c.1, c.2)
    }
}

fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, t: &Table, o: &PlotOptions) -> Result<(), PlotError> {
    root.fill(&WHITE).map_err(pe)?;
    match o.kind {
        PlotKind::LatencyVsBits => latency_vs_bits(root, t),
        PlotKind::EnergyBreakdown => energy_breakdown(root, t),
        PlotKind::PerLayer => per_layer(root, t, o),
        PlotKind::Roofline => roofline(root, t, o),
        PlotKind::Pareto => pareto(root, t, o.sqnr_column.as_deref().unwrap_or("sqnr_db")),
        PlotKind::Speedup => speedup(root, t, o),
    }
}

/// The legend box every figure uses (translucent white, black border) at `pos`; callers
/// may style it further before `.draw()`.
fn legend<'a, 'b, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &'b mut ChartContext<'a, DB, CT>,
    pos: SeriesLabelPosition,
) -> SeriesLabelStyle<'a, 'b, DB, CT> {
    let mut style = chart.configure_series_labels();
    style.position(pos).background_style(WHITE.mix(0.85)).border_style(BLACK);
    style
}

fn nice_max(v: f64) -> f64 {
    if v.is_finite() && v > 0.0 {
        v * 1.1
    } else {
        1.0
    }
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

fn latency_s(t: &Table, r: &[String]) -> f64 {
    let over = t.col("overhead_s").map(|c| t.num(r, c)).filter(|x| x.is_finite()).unwrap_or(0.0);
    t.col("latency_s").map(|c| t.num(r, c)).unwrap_or(f64::NAN) + over
}

fn latency_vs_bits<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, t: &Table) -> Result<(), PlotError> {
    let rows = t.ok_rows(true)?;
    if rows.is_empty() {
        return Err(PlotError("no successful design points to plot".into()));
    }
    let (hw, model, wb, ab, en) =
        (t.need("hw")?, t.need("model")?, t.need("wbits")?, t.need("abits")?, t.need("energy_pj")?);
    let many_models = distinct(t, &rows, "model") > 1;
    let many_abits = distinct(t, &rows, "abits") > 1;
    let sets = t.set_columns();
    // Series: (hw, model, abits, set values); the first point of each (series, wbits) wins.
    let mut series: Vec<(String, BTreeMap<u32, (f64, f64)>)> = Vec::new();
    for r in &rows {
        let mut name = r[hw].clone();
        if many_models {
            name.push_str(&format!(" / {}", r[model]));
        }
        if many_abits {
            name.push_str(&format!(" a{}", r[ab]));
        }
        for &c in &sets {
            name.push_str(&format!(" {}={}", t.header[c], r[c]));
        }
        let x: u32 = r[wb].parse().unwrap_or(0);
        let y = (latency_s(t, r) * 1e3, t.num(r, en) * 1e-6);
        match series.iter_mut().find(|(n, _)| *n == name) {
            Some((_, m)) => {
                m.entry(x).or_insert(y);
            }
            None => series.push((name, BTreeMap::from([(x, y)]))),
        }
    }
    let xs: Vec<u32> = series.iter().flat_map(|(_, m)| m.keys().copied()).collect();
    let (x0, x1) = (*xs.iter().min().unwrap_or(&2) as f64 - 0.5, *xs.iter().max().unwrap_or(&16) as f64 + 0.5);
    let panels = root.split_evenly((1, 2));
    for (k, area) in panels.iter().enumerate() {
        let (title, ydesc) =
            if k == 0 { ("Latency vs weight bits", "latency (ms)") } else { ("Energy vs weight bits", "energy (µJ)") };
        let pick = |v: &(f64, f64)| if k == 0 { v.0 } else { v.1 };
        let ymax = series.iter().flat_map(|(_, m)| m.values().map(pick)).fold(0.0, f64::max);
        let mut chart = ChartBuilder::on(area)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d(span(x0, x1, false)?, span(0.0, nice_max(ymax) * 1.3, false)?)
            .map_err(pe)?;
        chart
            .configure_mesh()
            .x_desc("weight bits")
            .y_desc(ydesc)
            .x_labels(((x1 - x0) as usize + 1).min(16))
            .x_label_formatter(&|x| if x.fract() == 0.0 { format!("{x:.0}") } else { String::new() })
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(pe)?;
        for (i, (name, m)) in series.iter().enumerate() {
            let c = color(i);
            let pts: Vec<(f64, f64)> = m.iter().map(|(x, v)| (*x as f64, pick(v))).collect();
            chart
                .draw_series(LineSeries::new(pts.clone(), c.stroke_width(2)))
                .map_err(pe)?
                .label(name.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
            chart.draw_series(pts.iter().map(|p| Circle::new(*p, 4, c.filled()))).map_err(pe)?;
        }
        legend(&mut chart, SeriesLabelPosition::UpperRight).label_font(("sans-serif", 13)).draw().map_err(pe)?;
    }
    Ok(())
}

fn energy_breakdown<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, t: &Table) -> Result<(), PlotError> {
    let mut rows = t.ok_rows(true)?;
    if rows.is_empty() {
        return Err(PlotError("no successful design points to plot".into()));
    }
    let shown = rows.len().min(40);
    let title = if rows.len() > shown {
        format!("Energy breakdown (first {shown} of {} design points)", rows.len())
    } else {
        "Energy breakdown per design point".to_string()
    };
    rows.truncate(shown);
    let parts = [
        ("MAC", "energy_mac_pj"),
        ("buffers", "energy_buffers_pj"),
        ("DRAM", "energy_dram_pj"),
        ("vector", "energy_vector_pj"),
    ];
    let cols = parts.iter().map(|(_, c)| t.need(c)).collect::<Result<Vec<_>, _>>()?;
    let many_models = distinct(t, &rows, "model") > 1;
    let labels: Vec<String> = rows.iter().map(|r| point_label(t, r, many_models)).collect();
    let ymax = rows.iter().map(|r| cols.iter().map(|&c| t.num(r, c) * 1e-6).sum::<f64>()).fold(0.0, f64::max);
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(if shown > 6 { 170 } else { 60 })
        .y_label_area_size(75)
        .build_cartesian_2d(span(-0.5, shown as f64 - 0.5, false)?, span(0.0, nice_max(ymax) * 1.25, false)?)
        .map_err(pe)?;
    let rotate = shown > 6;
    let style = if rotate {
        ("sans-serif", 12).into_font().transform(FontTransform::Rotate90)
    } else {
        ("sans-serif", 12).into_font()
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_desc(if rotate { "" } else { "design point" })
        .y_desc("energy per inference (µJ)")
        .x_labels(shown)
        .x_label_style(style)
        .x_label_formatter(&|x| category_label(&labels, *x))
        .draw()
        .map_err(pe)?;
    let mut base = vec![0.0; shown];
    for (k, ((name, _), &c)) in parts.iter().zip(&cols).enumerate() {
        let col = color(k);
        let bars: Vec<Rectangle<(f64, f64)>> = rows
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let v = t.num(r, c) * 1e-6;
                let v = if v.is_finite() { v } else { 0.0 };
                let rect = Rectangle::new([(i as f64 - 0.35, base[i]), (i as f64 + 0.35, base[i] + v)], col.filled());
                base[i] += v;
                rect
            })
            .collect();
        chart
            .draw_series(bars)
            .map_err(pe)?
            .label(*name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], col.filled()));
    }
    legend(&mut chart, SeriesLabelPosition::UpperRight).draw().map_err(pe)?;
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

fn per_layer<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, t: &Table, o: &PlotOptions) -> Result<(), PlotError> {
    let rows = t.ok_rows(false)?;
    let mut groups = layers_by_point(t, &rows)?;
    if groups.is_empty() {
        return Err(PlotError("no per-layer rows: run the sweep with --per-layer".into()));
    }
    if o.points.is_empty() {
        groups.truncate(6);
    } else {
        groups.retain(|(p, _)| o.points.contains(p));
        if groups.is_empty() {
            return Err(PlotError(format!("none of the points {:?} has per-layer rows", o.points)));
        }
    }
    let (lat, name) = (t.need("latency_s")?, t.need("layer")?);
    let totals = t.ok_rows(true)?;
    let pcol = t.need("point")?;
    let label = |p: usize| {
        totals
            .iter()
            .find(|r| r[pcol] == p.to_string())
            .map(|r| point_label(t, r, true))
            .unwrap_or(format!("point {p}"))
    };
    let n = groups.iter().map(|(_, v)| v.len()).max().unwrap_or(1);
    let ymax = groups.iter().flat_map(|(_, v)| v.iter().map(|r| t.num(r, lat) * 1e6)).fold(0.0, f64::max);
    let names: Vec<String> = groups[0].1.iter().map(|r| r[name].clone()).collect();
    let mut chart = ChartBuilder::on(root)
        .caption("Per-layer latency", ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(130)
        .y_label_area_size(75)
        .build_cartesian_2d(span(-0.5, n as f64 - 0.5, false)?, span(0.0, nice_max(ymax) * 1.25, false)?)
        .map_err(pe)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .y_desc("latency (µs)")
        .x_labels(n.min(60))
        .x_label_style(("sans-serif", 10).into_font().transform(FontTransform::Rotate90))
        .x_label_formatter(&|x| category_label(&names, *x))
        .draw()
        .map_err(pe)?;
    let k = groups.len() as f64;
    let w = 0.8 / k;
    for (g, (p, v)) in groups.iter().enumerate() {
        let c = color(g);
        let bars: Vec<_> = v
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let x = i as f64 - 0.4 + g as f64 * w;
                let y = t.num(r, lat) * 1e6;
                Rectangle::new([(x, 0.0), (x + w * 0.9, if y.is_finite() { y } else { 0.0 })], c.filled())
            })
            .collect();
        chart
            .draw_series(bars)
            .map_err(pe)?
            .label(label(*p))
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], c.filled()));
    }
    legend(&mut chart, SeriesLabelPosition::UpperRight).draw().map_err(pe)?;
    Ok(())
}

fn roofline<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, t: &Table, o: &PlotOptions) -> Result<(), PlotError> {
    let rows = t.ok_rows(false)?;
    let groups = layers_by_point(t, &rows)?;
    let want = o.points.first().copied().or(groups.first().map(|(p, _)| *p));
    let Some((p, layers)) = groups.iter().find(|(p, _)| Some(*p) == want) else {
        return Err(PlotError("no per-layer rows for the roofline: run the sweep with --per-layer".into()));
    };
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
        .collect();
    if pts.is_empty() {
        return Err(PlotError(format!("point {p} has no layer with MACs and DRAM traffic")));
    }
    let peak_g = t.num(layers[0], peak) / 1e9;
    let bw_g = t.num(layers[0], bw) / 1e9;
    let xmin = pts.iter().map(|p| p.0).fold(f64::INFINITY, f64::min).min(peak_g / bw_g) / 3.0;
    let xmax = pts.iter().map(|p| p.0).fold(0.0, f64::max).max(peak_g / bw_g) * 3.0;
    let ymax = peak_g.max(pts.iter().map(|p| p.1).fold(0.0, f64::max)) * 2.0;
    let ymin = pts.iter().map(|p| p.1).fold(f64::INFINITY, f64::min).min(bw_g * xmin) / 2.0;
    let totals = t.ok_rows(true)?;
    let pcol = t.need("point")?;
    let label = totals.iter().find(|r| r[pcol] == p.to_string()).map(|r| point_label(t, r, true)).unwrap_or_default();
    let mut chart = ChartBuilder::on(root)
        .caption(format!("Roofline: {label}"), ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(50)
        .y_label_area_size(75)
        .build_cartesian_2d(span(xmin, xmax, true)?.log_scale(), span(ymin, ymax, true)?.log_scale())
        .map_err(pe)?;
    chart
        .configure_mesh()
        .x_desc("arithmetic intensity (MAC / DRAM byte)")
        .y_desc("achieved throughput (GMAC/s)")
        .draw()
        .map_err(pe)?;
    let n = 200;
    let roof: Vec<(f64, f64)> = (0..=n)
        .map(|i| {
            let x = xmin * (xmax / xmin).powf(i as f64 / n as f64);
            (x, (bw_g * x).min(peak_g))
        })
        .collect();
    chart
        .draw_series(LineSeries::new(roof, BLACK.stroke_width(2)))
        .map_err(pe)?
        .label(format!("roof: {peak_g:.1} GMAC/s peak, {bw_g:.1} GB/s DRAM"))
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.stroke_width(2)));
    for (k, (name, mem)) in [("compute-bound layers", false), ("memory-bound layers", true)].iter().enumerate() {
        let col = color(k);
        chart
            .draw_series(pts.iter().filter(|p| p.2 == *mem).map(|p| Circle::new((p.0, p.1), 4, col.filled())))
            .map_err(pe)?
            .label(*name)
            .legend(move |(x, y)| Circle::new((x + 10, y), 4, col.filled()));
    }
    legend(&mut chart, SeriesLabelPosition::LowerRight).draw().map_err(pe)?;
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

fn pareto<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, t: &Table, sqnr_col: &str) -> Result<(), PlotError> {
    let rows = t.ok_rows(true)?;
    if rows.is_empty() {
        return Err(PlotError("no successful design points to plot".into()));
    }
    let en = t.need("energy_pj")?;
    // SQNR when a functional sweep measured it for some point, else the latency fallback.
    if sqnr_col != "sqnr_db" && t.col(sqnr_col).is_none() {
        return Err(PlotError(format!(
            "the input has no column '{sqnr_col}' (a functional sweep writes sqnr_db and logits_sqnr_db)"
        )));
    }
    let sqnr = t.col(sqnr_col).filter(|&s| rows.iter().any(|r| t.num(r, s).is_finite()));
    // (x, y) as drawn, and the minimised pair for the front.
    let (title, xdesc, ydesc, drawn, minimised): (String, &str, &str, Vec<(f64, f64)>, Vec<(f64, f64)>) = match sqnr {
        Some(s) => {
            let d: Vec<(f64, f64)> = rows.iter().map(|r| (t.num(r, en) * 1e-6, t.num(r, s))).collect();
            let m = d.iter().map(|p| (p.0, -p.1)).collect();
            let (title, ydesc) = if sqnr_col == "logits_sqnr_db" {
                ("Pareto front: energy vs SQNR of the logits", "logits SQNR (dB)")
            } else {
                ("Pareto front: energy vs SQNR", "SQNR (dB)")
            };
            (title.into(), "energy per inference (µJ)", ydesc, d, m)
        }
        None => {
            let d: Vec<(f64, f64)> = rows.iter().map(|r| (latency_s(t, r) * 1e3, t.num(r, en) * 1e-6)).collect();
            (
                "Pareto front: energy vs latency (no SQNR column in the input)".into(),
                "latency (ms)",
                "energy per inference (µJ)",
                d.clone(),
                d,
            )
        }
    };
    let front = pareto_front(&minimised);
    let fin = |f: fn(&(f64, f64)) -> f64| drawn.iter().map(f).filter(|v| v.is_finite());
    let (x0, x1) = (fin(|p| p.0).fold(f64::INFINITY, f64::min), fin(|p| p.0).fold(f64::NEG_INFINITY, f64::max));
    let (y0, y1) = (fin(|p| p.1).fold(f64::INFINITY, f64::min), fin(|p| p.1).fold(f64::NEG_INFINITY, f64::max));
    let pad = |a: f64, b: f64| {
        let d = if b > a { (b - a) * 0.08 } else { a.abs().max(1e-9) * 0.1 };
        (a - d, b + d)
    };
    let ((x0, x1), (y0, y1)) = (pad(x0, x1), pad(y0, y1));
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(50)
        .y_label_area_size(75)
        .build_cartesian_2d(span(x0, x1, false)?, span(y0, y1, false)?)
        .map_err(pe)?;
    chart.configure_mesh().x_desc(xdesc).y_desc(ydesc).draw().map_err(pe)?;
    let grey = RGBColor(150, 150, 150);
    chart
        .draw_series(
            drawn.iter().filter(|p| p.0.is_finite() && p.1.is_finite()).map(|p| Circle::new(*p, 3, grey.filled())),
        )
        .map_err(pe)?
        .label(format!("design points ({})", drawn.len()))
        .legend(move |(x, y)| Circle::new((x + 10, y), 3, grey.filled()));
    let c = color(1);
    let fp: Vec<(f64, f64)> = front.iter().map(|&i| drawn[i]).collect();
    chart
        .draw_series(LineSeries::new(fp.clone(), c.stroke_width(2)))
        .map_err(pe)?
        .label(format!("Pareto front ({} points)", fp.len()))
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
    chart.draw_series(fp.iter().map(|p| Circle::new(*p, 5, c.filled()))).map_err(pe)?;
    // SQNR rises with energy along the front, so the upper left is empty there.
    legend(&mut chart, if sqnr.is_some() { SeriesLabelPosition::UpperLeft } else { SeriesLabelPosition::UpperRight })
        .draw()
        .map_err(pe)?;
    Ok(())
}

fn speedup<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, t: &Table, o: &PlotOptions) -> Result<(), PlotError> {
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
    let mut keys: Vec<Vec<String>> = Vec::new();
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
    let mut hws: Vec<String> = Vec::new();
    let mut vals: BTreeMap<(String, Vec<String>), f64> = BTreeMap::new();
    for r in &rows {
        let k = key(r);
        let Some(b) = base_lat.get(&k) else { continue };
        if !keys.contains(&k) {
            keys.push(k.clone());
        }
        if !hws.contains(&r[hw]) {
            hws.push(r[hw].clone());
        }
        vals.entry((r[hw].clone(), k)).or_insert(b / latency_s(t, r));
    }
    let keys: Vec<Vec<String>> = keys.into_iter().take(30).collect();
    let labels: Vec<String> = keys.iter().map(|k| klabel(k)).collect();
    let ymax = vals.values().copied().filter(|v| v.is_finite()).fold(1.0, f64::max);
    let n = keys.len();
    let mut chart = ChartBuilder::on(root)
        .caption(format!("Speedup over {base}"), ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(if n > 4 { 150 } else { 50 })
        .y_label_area_size(70)
        .build_cartesian_2d(span(-0.5, n as f64 - 0.5, false)?, span(0.0, nice_max(ymax) * 1.25, false)?)
        .map_err(pe)?;
    let style = if n > 4 {
        ("sans-serif", 12).into_font().transform(FontTransform::Rotate90)
    } else {
        ("sans-serif", 13).into_font()
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .y_desc(format!("speedup over {base} (×, latency ratio)"))
        .x_labels(n)
        .x_label_style(style)
        .x_label_formatter(&|x| category_label(&labels, *x))
        .draw()
        .map_err(pe)?;
    let w = 0.8 / hws.len() as f64;
    for (h, name) in hws.iter().enumerate() {
        let c = color(h);
        let bars: Vec<_> = keys
            .iter()
            .enumerate()
            .filter_map(|(i, k)| {
                let v = *vals.get(&(name.clone(), k.clone()))?;
                let x = i as f64 - 0.4 + h as f64 * w;
                v.is_finite().then(|| Rectangle::new([(x, 0.0), (x + w * 0.9, v)], c.filled()))
            })
            .collect();
        chart
            .draw_series(bars)
            .map_err(pe)?
            .label(name.clone())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], c.filled()));
    }
    chart.draw_series(LineSeries::new(vec![(-0.5, 1.0), (n as f64 - 0.5, 1.0)], BLACK.stroke_width(1))).map_err(pe)?;
    legend(&mut chart, SeriesLabelPosition::UpperRight).draw().map_err(pe)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pareto_front_keeps_only_non_dominated_points() {
        let pts = [(1.0, 5.0), (2.0, 3.0), (2.5, 4.0), (3.0, 1.0), (4.0, 1.0), (f64::NAN, 0.0)];
        assert_eq!(pareto_front(&pts), vec![0, 1, 3]);
    }

    #[test]
    fn pareto_uses_sqnr_when_measured_and_falls_back_to_latency_otherwise() {
        let draw = |sqnr: [&str; 3]| {
            let mut text = "point,layer,latency_s,energy_pj,error,sqnr_db\n".to_string();
            for (i, (e, q)) in [1e6, 2e6, 3e6].iter().zip(sqnr).enumerate() {
                text += &format!("{i},TOTAL,0.00{},{e},,{q}\n", 3 - i);
            }
            let t = Table::from_csv(&text).unwrap();
            svg(&t, &PlotOptions { kind: PlotKind::Pareto, baseline: None, points: vec![], sqnr_column: None }).unwrap()
        };
        let with = draw(["10", "30", "20"]);
        assert!(with.contains("energy vs SQNR") && with.contains("SQNR (dB)"));
        assert!(with.contains("Pareto front (2 points)"), "(1 uJ, 10 dB) and (2 uJ, 30 dB) only");
        let without = draw(["", "", ""]);
        assert!(without.contains("energy vs latency") && without.contains("latency (ms)"));
        assert!(without.contains("Pareto front (3 points)"));
    }
}

/// The label of a categorical axis position: the category at an integer position, nothing
/// between categories.
fn category_label(labels: &[String], x: f64) -> String {
    let i = x.round();
    if (x - i).abs() < 1e-6 && i >= 0.0 {
        labels.get(i as usize).cloned().unwrap_or_default()
    } else {
        String::new()
    }
}
