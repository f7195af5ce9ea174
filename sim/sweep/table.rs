//! The tidy output of a sweep: one row per design point (`layer` = `TOTAL`) and, with
//! `--per-layer`, one row per layer after it. Columns, in order:
//!
//! `point, hw, model, wbits, abits` (a point that kept a quantized model's own widths: its
//! widths, `mixed` when its layers differ), the columns of the transformer and granularity
//! axes given ([`super::axes::SeqAxes::columns`]), one column per `--set` path (named by the path),
//! then [`COLUMNS`], then (functional sweeps only) [`FUNCTIONAL_COLUMNS`], filled on the
//! `TOTAL` rows (the network output's SQNR). Failed points have one row with an empty measurement and the `error`
//! column set. Floats are rounded to 12 significant digits and written in Rust's shortest
//! round-trip form of that, so the CSV of a sweep is byte-identical from run to run and free
//! of binary noise.

use super::plan::SweepSpec;
use super::run::PointResult;
use crate::report::{LayerReport, RunReport};
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// The measurement columns after the point and `--set` columns.
pub const COLUMNS: &[&str] = &[
    "layer_index",
    "layer",
    "op",
    "widths",
    "mode",
    "macs",
    "cycles",
    "compute_cycles",
    "port_cycles",
    "stall_cycles",
    "latency_s",
    "overhead_s",
    "energy_pj",
    "energy_mac_pj",
    "energy_buffers_pj",
    "energy_dram_pj",
    "energy_vector_pj",
    "dram_read_bytes",
    "dram_write_bytes",
    "buffer_read_bytes",
    "buffer_write_bytes",
    "buffers",
    "utilization",
    "bound",
    "clock_hz",
    "peak_macs_per_s",
    "dram_bytes_per_s",
    "error",
];

/// The columns a functional sweep adds after [`COLUMNS`].
pub const FUNCTIONAL_COLUMNS: &[&str] = &["sqnr_db", "logits_sqnr_db", "top1_agreement", "functional_inputs"];
/// The columns a functional sweep with class labels adds after [`FUNCTIONAL_COLUMNS`]
/// (`top5_accuracy` empty for 5 classes or fewer).
pub const LABEL_COLUMNS: &[&str] = &["top1_accuracy", "top5_accuracy"];

/// The functional columns of `spec`: none, [`FUNCTIONAL_COLUMNS`], or those and [`LABEL_COLUMNS`].
fn functional_columns(spec: &SweepSpec) -> Vec<&'static str> {
    match &spec.functional {
        None => Vec::new(),
        Some(f) => {
            let labels = if f.labels.is_some() { LABEL_COLUMNS } else { &[] };
            FUNCTIONAL_COLUMNS.iter().chain(labels).copied().collect()
        }
    }
}

/// One row: a design point's totals or one of its layers.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Layer position, `None` for the totals.
    pub layer_index: Option<usize>,
    /// Layer name, or `TOTAL`.
    pub layer: String,
    /// Operator (empty for totals).
    pub op: String,
    /// The layer's widths (`w4a8`, `a8`); for totals, the run's summary (`w8a8`, or each
    /// layer widths with its count).
    pub widths: String,
    /// The compute mode the layer ran in (`8x8`; empty for vector work and totals).
    pub mode: String,
    /// MACs.
    pub macs: u64,
    /// Cycles.
    pub cycles: u64,
    /// The compute units' own cycles, what the buffer ports add, and DRAM stalls (they sum
    /// to `cycles`).
    pub split: [u64; 3],
    /// Hardware latency in seconds.
    pub latency_s: f64,
    /// Software overhead in seconds (DSP invocation; totals only).
    pub overhead_s: f64,
    /// Energy by component (pJ): MAC, buffers, DRAM, vector.
    pub energy_pj: [f64; 4],
    /// DRAM bytes read.
    pub dram_read: u64,
    /// DRAM bytes written.
    pub dram_write: u64,
    /// (name, read bytes, write bytes) of each on-chip buffer, in the description's order.
    pub buffers: Vec<(Arc<str>, u64, u64)>,
    /// Utilization of the MAC array.
    pub utilization: f64,
    /// compute / memory / -.
    pub bound: &'static str,
}

impl Row {
    /// The totals row of a report.
    pub fn total(r: &RunReport) -> Row {
        let t = &r.totals;
        Row {
            layer_index: None,
            layer: "TOTAL".into(),
            op: String::new(),
            widths: crate::quant::widths::summary(&r.integer_widths()),
            mode: String::new(),
            macs: t.macs.get(),
            cycles: t.cycles.get(),
            split: [t.compute_cycles.get(), t.port_cycles.get(), t.stall_cycles.get()],
            latency_s: t.latency.get(),
            overhead_s: t.overhead.get(),
            energy_pj: [t.energy.mac.get(), t.energy.buffers.get(), t.energy.dram.get(), t.energy.vector.get()],
            dram_read: t.dram_read.get(),
            dram_write: t.dram_write.get(),
            buffers: buffer_totals(&r.layers),
            utilization: t.utilization,
            bound: "",
        }
    }

    /// The row of layer `i`.
    pub fn layer(i: usize, l: &LayerReport) -> Row {
        Row {
            layer_index: Some(i),
            layer: l.name.to_string(),
            op: l.op.to_string(),
            widths: l.widths_label(),
            mode: l.mode.clone(),
            macs: l.macs.get(),
            cycles: l.cycles.get(),
            split: [l.compute_cycles.get(), l.port_cycles.get(), l.stall_cycles.get()],
            latency_s: l.latency.get(),
            overhead_s: 0.0,
            energy_pj: [l.energy.mac.get(), l.energy.buffers.get(), l.energy.dram.get(), l.energy.vector.get()],
            dram_read: l.dram_read.get(),
            dram_write: l.dram_write.get(),
            buffers: l.buffers.iter().map(|b| (b.name.clone(), b.reads.get(), b.writes.get())).collect(),
            utilization: l.utilization,
            bound: l.bound.name(),
        }
    }
}

/// Per-buffer traffic summed over layers (every layer lists the description's buffers in
/// the same order).
fn buffer_totals(layers: &[LayerReport]) -> Vec<(Arc<str>, u64, u64)> {
    let mut out: Vec<(Arc<str>, u64, u64)> = Vec::new();
    for l in layers {
        for (i, b) in l.buffers.iter().enumerate() {
            match out.get_mut(i) {
                Some(t) => {
                    t.1 = t.1.saturating_add(b.reads.get());
                    t.2 = t.2.saturating_add(b.writes.get());
                }
                None => out.push((b.name.clone(), b.reads.get(), b.writes.get())),
            }
        }
    }
    out
}

/// The `buffers` cell: `name:read:write` per buffer (bytes), `;`-separated, appended to `out`.
fn push_buffers_cell(out: &mut String, b: &[(Arc<str>, u64, u64)]) {
    use std::fmt::Write;
    for (i, (n, r, w)) in b.iter().enumerate() {
        let _ = write!(out, "{}{n}:{r}:{w}", if i > 0 { ";" } else { "" });
    }
}

/// The header: point columns, `--set` paths, then [`COLUMNS`].
pub fn header(spec: &SweepSpec) -> Vec<String> {
    let mut h: Vec<String> = ["point", "hw", "model", "wbits", "abits"].iter().map(|s| s.to_string()).collect();
    h.extend(spec.seq.columns().iter().map(|s| s.to_string()));
    h.extend(spec.sets.iter().map(|(k, _)| k.clone()));
    h.extend(COLUMNS.iter().map(|s| s.to_string()));
    h.extend(functional_columns(spec).iter().map(|s| s.to_string()));
    h
}

/// A measurement as text: rounded to 12 significant digits (far finer than the model's
/// accuracy) and then written in the shortest form that reads back to that value, so sums
/// of energies print as `152936.64`, not `152936.63999999998`.
///
/// The shortest form of the rounded value is the 12 rounded digits without their trailing
/// zeros: two decimals of at most 15 significant digits never read back to the same normal
/// `f64`, so no shorter one reads back to it. Written out positionally, as `{}` writes an
/// `f64`. Below the normal range (where an `f64` holds fewer digits) the value is rounded
/// through text and printed shortest.
///
/// Appended to `out` (no allocation beyond its growth for the values a measurement has).
fn push_f(out: &mut String, x: f64) {
    use std::fmt::Write;
    if !x.is_finite() || x == 0.0 {
        let _ = write!(out, "{x}");
        return;
    }
    // The shortest digits (Ryu's are `{}`'s: both give the shortest that reads back, the
    // closest of those; `values_print_as_rounded_ones` checks it over every kind of value).
    let mut buf = ryu::Buffer::new();
    let (neg, mut digits, exp) = decimal(buf.format_finite(x));
    // At most 12 of them are what rounding gives back: `x` is within half an ulp of them,
    // far less than half a unit of the 12th digit, so rounding gives its digits, which read
    // back to `x`.
    if digits.n <= 12 {
        return positional(out, neg, digits.as_slice(), exp);
    }
    // More: round them to 12. That is rounding `x` itself unless a 12-digit rounding
    // boundary lay between the two -- impossible, since the boundary (13 digits) would
    // then be a shorter or closer form that reads back to `x` -- or is those digits
    // (a 13th digit 5, the last one): then, as below the normal range, round `x` exactly.
    if x.abs() < 1e-290 {
        let rounded: f64 = format!("{x:.11e}").parse().unwrap_or(x);
        let _ = write!(out, "{rounded}");
        return;
    }
    if digits.n == 13 && digits.d[12] == b'5' {
        let (neg, digits, exp) = decimal(&format!("{x:.11e}"));
        return positional(out, neg, digits.as_slice(), exp);
    }
    let up = digits.d[12] >= b'5';
    digits.n = 12;
    let mut exp = exp;
    if up {
        // Carry from the 12th digit; all nines become a one a place higher.
        match digits.as_slice().iter().rposition(|&d| d != b'9') {
            Some(i) => {
                digits.d[i] += 1;
                digits.n = i + 1;
            }
            None => {
                digits.d[0] = b'1';
                digits.n = 1;
                exp += 1;
            }
        }
    }
    digits.trim_zeros();
    positional(out, neg, digits.as_slice(), exp)
}

/// A decimal's significant digits (ASCII), inline: Ryu writes at most 17, `{:.11e}` 12.
#[derive(Clone, Copy)]
struct Digits {
    d: [u8; 24],
    n: usize,
}

impl Digits {
    fn as_slice(&self) -> &[u8] {
        &self.d[..self.n]
    }

    fn push(&mut self, digit: u8) {
        if let Some(slot) = self.d.get_mut(self.n) {
            *slot = digit;
            self.n += 1;
        }
    }

    fn trim_zeros(&mut self) {
        while self.n > 0 && self.d[self.n - 1] == b'0' {
            self.n -= 1;
        }
    }
}

/// A decimal as Ryu or Rust's `{:e}` write it (`-1.25e-7`, `0.00125`, `125.0`, `1e21`):
/// its sign, its significant digits (no leading or trailing zeros; `0` for zero) and the
/// power of ten of the first.
fn decimal(s: &str) -> (bool, Digits, i64) {
    let b = s.as_bytes();
    let (neg, b) = match b.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, b),
    };
    let mut digits = Digits { d: [0; 24], n: 0 };
    // Mantissa digits seen, leading zeros among them, and where the point was.
    let (mut seen, mut lead, mut point) = (0i64, 0i64, None);
    let mut rest: &[u8] = &[];
    for (i, &c) in b.iter().enumerate() {
        match c {
            b'0' if digits.n == 0 => lead += 1,
            b'0'..=b'9' => digits.push(c),
            b'.' => {
                point = Some(seen);
                continue;
            }
            _ => {
                rest = &b[i + 1..];
                break;
            }
        }
        seen += 1;
    }
    let (eneg, rest) = match rest.split_first() {
        Some((b'-', r)) => (true, r),
        _ => (false, rest),
    };
    let e = rest.iter().take_while(|c| c.is_ascii_digit()).fold(0i64, |e, &c| e * 10 + i64::from(c - b'0'));
    digits.trim_zeros();
    if digits.n == 0 {
        digits.push(b'0');
        return (neg, digits, 0);
    }
    (neg, digits, point.unwrap_or(seen) - 1 - lead + if eneg { -e } else { e })
}

/// Significant digits `d1 d2 ...` (ASCII) times ten to `exp` (the power of `d1`) written
/// out positionally, as `{}` writes an `f64`, appended to `out`.
fn positional(out: &mut String, neg: bool, digits: &[u8], exp: i64) {
    // ASCII digits only (Ryu's or `{:e}`'s); anything else would not be a digit.
    let digits = std::str::from_utf8(digits).unwrap_or_default();
    let zeros = |out: &mut String, n: usize| out.extend(std::iter::repeat('0').take(n));
    if neg {
        out.push('-');
    }
    if exp < 0 {
        out.push_str("0.");
        zeros(out, (-exp - 1) as usize);
        out.push_str(digits);
    } else {
        let int_len = exp as usize + 1;
        if digits.len() > int_len {
            out.push_str(&digits[..int_len]);
            out.push('.');
            out.push_str(&digits[int_len..]);
        } else {
            out.push_str(digits);
            zeros(out, int_len - digits.len());
        }
    }
}

/// One row's cells, written into one buffer that every row reuses (a sweep writes a row
/// per point; a cell each would be an allocation each).
#[derive(Default)]
struct Cells {
    text: String,
    /// Where each cell ends in `text`.
    ends: Vec<usize>,
}

impl Cells {
    fn clear(&mut self) {
        self.text.clear();
        self.ends.clear();
    }

    /// Ends the cell written since the last one.
    fn end(&mut self) {
        self.ends.push(self.text.len());
    }

    fn str(&mut self, s: &str) {
        self.text.push_str(s);
        self.end();
    }

    fn display(&mut self, x: impl std::fmt::Display) {
        use std::fmt::Write;
        let _ = write!(self.text, "{x}");
        self.end();
    }

    /// A measurement ([`push_f`]).
    fn f(&mut self, x: f64) {
        push_f(&mut self.text, x);
        self.end();
    }

    /// `n` empty cells.
    fn empty(&mut self, n: usize) {
        for _ in 0..n {
            self.end();
        }
    }

    /// The cells written, in order.
    fn row(&self) -> Vec<&str> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts.zip(&self.ends).map(|(a, &b)| &self.text[a..b]).collect()
    }
}

/// The cells of every row, in header order.
pub fn records(spec: &SweepSpec, results: &[PointResult]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let _ = for_each_record(spec, results, |cells| {
        out.push(cells.iter().map(|c| c.to_string()).collect());
        Ok::<(), std::convert::Infallible>(())
    });
    out
}

/// Hands the cells of every row, in header order, to `emit` ([`records`] without a
/// `String` per cell: the CSV writers copy them out at once).
pub fn for_each_record<E>(
    spec: &SweepSpec,
    results: &[PointResult],
    mut emit: impl FnMut(&[&str]) -> Result<(), E>,
) -> Result<(), E> {
    let functional = spec.functional.is_some();
    let labels = spec.functional.as_ref().is_some_and(|f| f.labels.is_some());
    let blank = functional_columns(spec).len();
    let mut c = Cells::default();
    for r in results {
        let p = &r.point;
        c.clear();
        c.display(p.index);
        c.str(&r.hw);
        c.str(&r.model);
        match &r.own_widths {
            Some((w, a)) => {
                c.str(w);
                c.str(a);
            }
            None => {
                c.display(p.wbits);
                c.display(p.abits);
            }
        }
        for cell in spec.seq.cells(&p.seq, spec.batch) {
            c.str(&cell);
        }
        for v in &p.set_values {
            c.display(v);
        }
        let (lead_text, lead_cells) = (c.text.len(), c.ends.len());
        if let Some(e) = &r.error {
            // `layer` is TOTAL, the measurements empty, the error last.
            c.empty(1);
            c.str("TOTAL");
            c.empty(COLUMNS.len() - 3);
            c.str(&e.replace('\n', " "));
            if functional {
                c.empty(blank);
            }
            emit(&c.row())?;
            continue;
        }
        for row in &r.rows {
            c.text.truncate(lead_text);
            c.ends.truncate(lead_cells);
            let e = row.energy_pj;
            match row.layer_index {
                Some(i) => c.display(i),
                None => c.empty(1),
            }
            c.str(&row.layer);
            c.str(&row.op);
            c.str(&row.widths);
            c.str(&row.mode);
            c.display(row.macs);
            c.display(row.cycles);
            for x in row.split {
                c.display(x);
            }
            c.f(row.latency_s);
            c.f(row.overhead_s);
            c.f(e.iter().sum());
            for x in e {
                c.f(x);
            }
            c.display(row.dram_read);
            c.display(row.dram_write);
            c.display(row.buffers.iter().fold(0u64, |a, b| a.saturating_add(b.1)));
            c.display(row.buffers.iter().fold(0u64, |a, b| a.saturating_add(b.2)));
            push_buffers_cell(&mut c.text, &row.buffers);
            c.end();
            c.f(row.utilization);
            c.str(row.bound);
            c.f(r.clock_hz);
            c.f(r.peak_macs_per_s);
            c.f(r.dram_bytes_per_s);
            c.empty(1);
            if functional {
                match (&r.functional, row.layer_index) {
                    (Some(fr), None) => {
                        c.f(fr.sqnr_db);
                        c.f(fr.logits_sqnr_db);
                        c.f(fr.top1_agreement);
                        c.str(&fr.inputs);
                        if labels {
                            let a = fr.accuracy.as_ref();
                            match a {
                                Some(a) => c.f(a.top1),
                                None => c.empty(1),
                            }
                            match a.and_then(|a| a.top5) {
                                Some(t) => c.f(t),
                                None => c.empty(1),
                            }
                        }
                    }
                    _ => c.empty(blank),
                }
            }
            emit(&c.row())?;
        }
    }
    Ok(())
}

/// The CSV text.
pub fn to_csv(spec: &SweepSpec, results: &[PointResult]) -> Result<String, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(header(spec))?;
    for_each_record(spec, results, |cells| w.write_record(cells))?;
    let bytes = w.into_inner().map_err(|e| csv::Error::from(e.into_error()))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// A JSON array of row objects (same columns as the CSV; numbers as numbers, whole ones
/// as integers, empty cells as `null`).
pub fn to_json(spec: &SweepSpec, results: &[PointResult]) -> Value {
    Value::Array(json_rows(spec, results))
}

/// The row objects of [`to_json`], for writers that stream them.
pub fn json_rows(spec: &SweepSpec, results: &[PointResult]) -> Vec<Value> {
    let h = header(spec);
    let text_cols = ["hw", "model", "layer", "op", "widths", "mode", "bound", "error", "functional_inputs"];
    records(spec, results)
        .into_iter()
        .map(|rec| {
            let mut m = Map::new();
            for (k, v) in h.iter().zip(rec) {
                let val = if v.is_empty() {
                    Value::Null
                } else if text_cols.contains(&k.as_str()) {
                    Value::String(v)
                } else {
                    v.parse::<i64>()
                        .map(|i| json!(i))
                        .or_else(|_| v.parse::<f64>().map(|x| json!(x)))
                        .unwrap_or(Value::String(v))
                };
                m.insert(k.clone(), val);
            }
            Value::Object(m)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::push_f;
    use proptest::prelude::*;

    /// [`push_f`] into a new string.
    fn f(x: f64) -> String {
        let mut out = String::new();
        push_f(&mut out, x);
        out
    }

    /// What `f` prints, by its definition: rounded to 12 digits through text, then the
    /// shortest form of that value.
    fn rounded_then_shortest(x: f64) -> String {
        if !x.is_finite() || x == 0.0 {
            return format!("{x}");
        }
        let rounded: f64 = format!("{x:.11e}").parse().unwrap_or(x);
        format!("{rounded}")
    }

    proptest! {
        /// `f` prints what rounding to 12 digits through text prints: for any value, for
        /// values with few digits at every magnitude, for values of 13-16 digits, and for
        /// values just below a power of ten (which round up to it).
        #[test]
        fn values_print_as_rounded_ones(
            bits in any::<u64>(),
            m in 0u64..1_000_000_000_000,
            long in 0u64..(1 << 53),
            e in -30i32..30,
            nines in 12usize..17,
            tie in 100_000_000_000u64..1_000_000_000_000,
        ) {
            let x = f64::from_bits(bits);
            prop_assert_eq!(f(x), rounded_then_shortest(x));
            // `tie`: 13 digits ending in 5, a 12-digit rounding boundary itself.
            let tie = (tie * 10 + 5) as f64 * 10f64.powi(e);
            for y in [m as f64 * 10f64.powi(e), long as f64 * 10f64.powi(e), (1.0 - 10f64.powi(-(nines as i32))) * 10f64.powi(e), tie] {
                prop_assert_eq!(f(y), rounded_then_shortest(y));
                prop_assert_eq!(f(-y), rounded_then_shortest(-y));
            }
        }
    }

    /// `f` against its definition over many values of every magnitude and digit count
    /// (Ryu's shortest digits are `{}`'s, and rounding them is rounding the value).
    #[test]
    fn many_values_print_as_rounded_ones() {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..100_000 {
            let bits = next();
            let x = f64::from_bits(bits);
            assert_eq!(f(x), rounded_then_shortest(x), "{bits:#x}");
            // Values a measurement has: an integer of 1-17 digits at a power of ten.
            let digits = 10u64.pow((bits % 17) as u32 + 1);
            let y = (next() % digits) as f64 * 10f64.powi((next() % 40) as i32 - 20);
            assert_eq!(f(y), rounded_then_shortest(y), "{y:e}");
        }
    }

    #[test]
    fn measurements_print_without_binary_noise() {
        assert_eq!(f(152936.63999999998), "152936.64");
        assert_eq!(f(0.1 + 0.2), "0.3");
        assert_eq!(f(1.2345678901234567e-9), "0.00000000123456789012");
        assert_eq!(f(0.0), "0");
        assert_eq!(f(3.0), "3");
        assert_eq!(f(-2.5e-7), "-0.00000025");
        assert_eq!(f(9.9999999999999e5), "1000000");
        assert_eq!(f(1e21), "1000000000000000000000");
        assert_eq!(f(f64::MAX), format!("{}", 1.79769313486e308));
        assert_eq!(f(5e-324), "0.".to_string() + &"0".repeat(323) + "5");
    }
}
