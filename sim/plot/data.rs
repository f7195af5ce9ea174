//! A sweep's output (CSV, or the JSON array of `--format json`) read as a table of
//! strings, with typed accessors for the plots.

/// Why a plot cannot be drawn.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PlotError(pub String);

/// The rows of a sweep CSV.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Table {
    /// Column names.
    pub header: Vec<String>,
    /// Cells, row by row.
    pub rows: Vec<Vec<String>>,
}

/// The columns of a design point that identify it apart from its measurements.
const MEASUREMENTS: &[&str] = crate::sweep::COLUMNS;

/// Magnitudes a figure draws (1e-30 to 1e30); others are treated as missing by [`Table::num`].
pub const DRAWABLE: (f64, f64) = (1e-30, 1e30);

impl Table {
    /// Parses CSV text.
    pub fn from_csv(text: &str) -> Result<Table, PlotError> {
        let mut r = csv::Reader::from_reader(text.as_bytes());
        let header = r.headers().map_err(|e| PlotError(e.to_string()))?.iter().map(String::from).collect();
        let rows = r
            .records()
            .map(|rec| rec.map(|r| r.iter().map(String::from).collect()).map_err(|e| PlotError(e.to_string())))
            .collect::<Result<_, _>>()?;
        Ok(Table { header, rows })
    }

    /// Parses the JSON array `accelsim sweep --format json` writes: one object per row
    /// (`null` is an empty cell). JSON objects do not keep their key order, so the columns
    /// are put in the CSV's: point columns, `--set` paths, measurements.
    pub fn from_json(text: &str) -> Result<Table, PlotError> {
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| PlotError(format!("not valid JSON: {e}")))?;
        let rows =
            v.as_array().ok_or_else(|| PlotError("expected a JSON array of rows (`sweep --format json`)".into()))?;
        let mut header: Vec<String> = Vec::new();
        for r in rows {
            let obj = r.as_object().ok_or_else(|| PlotError("expected every row to be a JSON object".into()))?;
            for k in obj.keys() {
                if !header.contains(k) {
                    header.push(k.clone());
                }
            }
        }
        let lead = ["point", "hw", "model", "wbits", "abits"];
        let rank = |h: &String| {
            let known = crate::sweep::COLUMNS
                .iter()
                .chain(crate::sweep::FUNCTIONAL_COLUMNS)
                .chain(crate::sweep::table::LABEL_COLUMNS);
            match (lead.iter().position(|c| c == h), known.clone().position(|c| c == h)) {
                (Some(i), _) => i,
                (None, Some(i)) => 1000 + i,
                (None, None) => 500,
            }
        };
        header.sort_by_key(|h| rank(h));
        let cell = |v: Option<&serde_json::Value>| match v {
            None | Some(serde_json::Value::Null) => String::new(),
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        };
        let rows = rows.iter().map(|r| header.iter().map(|k| cell(r.get(k))).collect()).collect();
        Ok(Table { header, rows })
    }

    /// The index of a column.
    pub fn col(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }

    /// The index of a column that must exist.
    pub fn need(&self, name: &str) -> Result<usize, PlotError> {
        self.col(name)
            .ok_or_else(|| PlotError(format!("the input has no '{name}' column; is it `accelsim sweep` output?")))
    }

    /// The `--set` columns (between `abits` and the measurements).
    pub fn set_columns(&self) -> Vec<usize> {
        let start = self.col("abits").map(|i| i + 1).unwrap_or(0);
        (start..self.header.len()).take_while(|&i| !MEASUREMENTS.contains(&self.header[i].as_str())).collect()
    }

    /// Rows that succeeded: totals (`layer == TOTAL`) or layers.
    pub fn ok_rows(&self, totals: bool) -> Result<Vec<&Vec<String>>, PlotError> {
        let (layer, err) = (self.need("layer")?, self.need("error")?);
        Ok(self.rows.iter().filter(|r| r[err].is_empty() && (r[layer] == "TOTAL") == totals).collect())
    }

    /// Refuses a table with a negative measurement of a quantity that cannot be negative
    /// (latency, cycles, energy, bytes, MACs, rates), naming its row and column: figures
    /// start bars at zero and put these on log axes, where a negative value is drawn outside
    /// every coordinate the backend holds.
    pub fn check_measurements(&self) -> Result<(), PlotError> {
        let non_negative = |h: &str| {
            matches!(h, "latency_s" | "overhead_s" | "macs" | "utilization")
                || h.ends_with("cycles")
                || h.ends_with("_pj")
                || h.ends_with("_bytes")
                || h.ends_with("_per_s")
                || h == "clock_hz"
        };
        for (c, h) in self.header.iter().enumerate().filter(|(_, h)| non_negative(h)) {
            for (i, r) in self.rows.iter().enumerate() {
                if let Some(v) = r.get(c).filter(|v| v.parse::<f64>().is_ok_and(|x| x < 0.0)) {
                    return Err(PlotError(format!(
                        "row {} of the input: {h} is {v}, and a sweep's {h} is never negative",
                        i + 1
                    )));
                }
            }
        }
        Ok(())
    }

    /// A numeric cell; NaN (missing, so not drawn) when it is not a number or not
    /// drawable: infinite, or of magnitude outside [`DRAWABLE`] (no measurement of a sweep
    /// comes near those bounds, and axis arithmetic on them overflows or never ends).
    pub fn num(&self, row: &[String], col: usize) -> f64 {
        let v: f64 = row.get(col).and_then(|v| v.parse().ok()).unwrap_or(f64::NAN);
        if v == 0.0 || (v.is_finite() && (DRAWABLE.0..=DRAWABLE.1).contains(&v.abs())) {
            v
        } else {
            f64::NAN
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_label_columns_are_measurements_not_set_columns() {
        let json = r#"[{"point": 0, "hw": "mac8", "model": "m", "wbits": 8, "abits": 8, "mac.rows": 16,
            "layer": "TOTAL", "error": null, "sqnr_db": 30.0, "top1_accuracy": 0.97, "top5_accuracy": 1.0}]"#;
        let t = Table::from_json(json).expect("json");
        let sets: Vec<&str> = t.set_columns().iter().map(|&c| t.header[c].as_str()).collect();
        assert_eq!(sets, ["mac.rows"]);
        assert!(t.col("top1_accuracy") > t.col("sqnr_db"), "{:?}", t.header);
    }
}
