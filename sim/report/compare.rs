//! Side-by-side comparison of two `accelsim run --format json` reports, per layer and in
//! total, with ratios B/A: a table for a paper (Markdown or LaTeX `booktabs`).
//!
//! Layers are matched by name, in A's order, then layers only B has. A missing value is
//! shown as `-`, and so is a ratio whose denominator is zero.

use serde_json::Value;

/// Table formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareFormat {
    /// GitHub-flavoured Markdown.
    Markdown,
    /// A LaTeX `tabular` with `booktabs` rules.
    Latex,
}

/// A report that cannot be compared.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CompareError(pub String);

/// (latency us, energy uJ, DRAM KiB) of a layer or the totals.
type Figures = [Option<f64>; 3];

fn figures(v: &Value, total: bool) -> Figures {
    let num = |k: &str| v.get(k).and_then(Value::as_f64);
    let lat = if total { num("total_s").or_else(|| num("latency_s")) } else { num("latency_s") };
    let dram = match (num("dram_read_bytes"), num("dram_write_bytes")) {
        (Some(r), Some(w)) => Some((r + w) / 1024.0),
        _ => None,
    };
    [lat.map(|s| s * 1e6), num("energy_pj").map(|p| p * 1e-6), dram]
}

fn label(v: &Value) -> String {
    let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("?").to_string();
    let n = |k: &str| v.get(k).and_then(Value::as_u64).map(|x| x.to_string()).unwrap_or_else(|| "?".into());
    // Reports with per-layer widths carry their summary; older ones the two numbers.
    let widths = match v.get("widths").and_then(Value::as_str) {
        Some(w) => w.to_string(),
        None => format!("w{} a{}", n("weight_bits"), n("activation_bits")),
    };
    format!("{} on {} ({widths})", s("model"), s("hw"))
}

fn cell(x: Option<f64>) -> String {
    match x {
        Some(v) if v.abs() >= 100.0 => format!("{v:.0}"),
        Some(v) if v.abs() >= 1.0 => format!("{v:.2}"),
        Some(v) => format!("{v:.3}"),
        None => "-".into(),
    }
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if a != 0.0 => format!("{:.2}x", b / a),
        _ => "-".into(),
    }
}

/// The comparison table of reports `a` and `b`.
pub fn compare(a: &Value, b: &Value, format: CompareFormat) -> Result<String, CompareError> {
    let layers = |v: &Value, which: &str| -> Result<Vec<(String, Figures)>, CompareError> {
        v.get("layers")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                CompareError(format!("{which}: no 'layers' array; is it `accelsim run --format json` output?"))
            })?
            .iter()
            .map(|l| {
                let name = l.get("name").and_then(Value::as_str).unwrap_or("?").to_string();
                Ok((name, figures(l, false)))
            })
            .collect()
    };
    let (la, lb) = (layers(a, "A")?, layers(b, "B")?);
    let ta = figures(a.get("totals").ok_or_else(|| CompareError("A: no 'totals'".into()))?, true);
    let tb = figures(b.get("totals").ok_or_else(|| CompareError("B: no 'totals'".into()))?, true);
    let mut rows: Vec<(String, Figures, Figures)> = Vec::new();
    for (n, fa) in &la {
        let fb = lb.iter().find(|(m, _)| m == n).map(|(_, f)| *f).unwrap_or([None; 3]);
        rows.push((n.clone(), *fa, fb));
    }
    for (n, fb) in &lb {
        if !la.iter().any(|(m, _)| m == n) {
            rows.push((n.clone(), [None; 3], *fb));
        }
    }
    rows.push(("Total".into(), ta, tb));
    let header = [
        "Layer",
        "Latency A (us)",
        "Latency B (us)",
        "B/A",
        "Energy A (uJ)",
        "Energy B (uJ)",
        "B/A",
        "DRAM A (KiB)",
        "DRAM B (KiB)",
        "B/A",
    ];
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|(n, fa, fb)| {
            let mut r = vec![n.clone()];
            for i in 0..3 {
                r.extend([cell(fa[i]), cell(fb[i]), ratio(fa[i], fb[i])]);
            }
            r
        })
        .collect();
    let (la, lb) = (label(a), label(b));
    Ok(match format {
        CompareFormat::Markdown => {
            let mut s = format!("A: {la}  \nB: {lb}\n\n| {} |\n|{}\n", header.join(" | "), "---|".repeat(header.len()));
            for r in &body {
                s.push_str(&format!("| {} |\n", r.join(" | ")));
            }
            s
        }
        CompareFormat::Latex => {
            let esc = |t: &str| {
                t.replace('\\', "\\textbackslash{}")
                    .replace('_', "\\_")
                    .replace('&', "\\&")
                    .replace('%', "\\%")
                    .replace('#', "\\#")
            };
            let mut s = format!(
                "% A: {la}\n% B: {lb}\n% needs \\usepackage{{booktabs}}\n\\begin{{tabular}}{{l{}}}\n\\toprule\n",
                "r".repeat(header.len() - 1)
            );
            let h: Vec<String> =
                header.iter().map(|c| esc(c).replace("(us)", "($\\mu$s)").replace("(uJ)", "($\\mu$J)")).collect();
            s.push_str(&format!("{} \\\\\n\\midrule\n", h.join(" & ")));
            for (i, r) in body.iter().enumerate() {
                if i + 1 == body.len() {
                    s.push_str("\\midrule\n");
                }
                let r: Vec<String> = r.iter().map(|c| esc(c).replace('x', "$\\times$")).collect();
                s.push_str(&format!("{} \\\\\n", r.join(" & ")));
            }
            s.push_str("\\bottomrule\n\\end{tabular}\n");
            s
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rep(hw: &str, lat: f64, e: f64) -> Value {
        json!({"model": "m", "hw": hw, "weight_bits": 8, "activation_bits": 8,
            "totals": {"total_s": lat * 2.0, "energy_pj": e * 2.0, "dram_read_bytes": 1024, "dram_write_bytes": 1024},
            "layers": [{"name": "conv1", "latency_s": lat, "energy_pj": e, "dram_read_bytes": 512, "dram_write_bytes": 512},
                       {"name": "fc_" , "latency_s": lat, "energy_pj": e, "dram_read_bytes": 512, "dram_write_bytes": 512}]})
    }

    #[test]
    fn ratios_are_b_over_a_in_both_formats() {
        let (a, b) = (rep("x", 1e-3, 1e6), rep("y", 2e-3, 5e5));
        let md = compare(&a, &b, CompareFormat::Markdown).unwrap();
        assert!(md.contains("| conv1 | 1000 | 2000 | 2.00x | 1.00 | 0.500 | 0.50x | 1.00 | 1.00 | 1.00x |"), "{md}");
        assert!(md.contains("| Total | 2000 | 4000 | 2.00x"), "{md}");
        let tex = compare(&a, &b, CompareFormat::Latex).unwrap();
        assert!(tex.contains("fc\\_ & 1000 & 2000 & 2.00$\\times$"), "{tex}");
        assert!(compare(&json!({}), &b, CompareFormat::Markdown).is_err());
    }
}
