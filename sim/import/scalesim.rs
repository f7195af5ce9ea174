//! SCALE-Sim topology CSV files (`topology.csv`) as IR graphs: one IR layer per row, in
//! file order, each with its own network input (SCALE-Sim's rows are independent layers,
//! not a chained network).
//!
//! Parsing follows SCALE-Sim 3.0.0 (`topology_utils.py`): the first line is a header and
//! is skipped; every data row must end with a trailing comma (SCALE-Sim drops the last
//! comma-separated field, so a row without one would lose its stride there -- here it is an
//! error instead); blank lines are skipped.
//!
//! * **Conv rows** `name, ifmap H, ifmap W, filter H, filter W, channels, filters, stride,`
//!   (an optional ninth field, a sparsity ratio `N:M`, is accepted and ignored, as SCALE-Sim
//!   does with sparsity off). They become a [`Conv2d`] over a `[1, H, W, C]` input with
//!   `K x R x S x C` weights and no bias. SCALE-Sim pads nothing but rounds the output size
//!   *up*, `ceil((ifmap - filter) / stride) + 1`; the IR's floor rule gets the same size
//!   from explicit padding at the bottom/right of `(stride - (ifmap - filter) % stride) %
//!   stride` elements (no IR change). That padding only feeds the shape: input traffic
//!   counts the real `H x W x C` tensor.
//! * **DP rows** (a conv row whose name contains `DP`): SCALE-Sim simulates `C` layers of
//!   one channel and `filters` filters each. Here that is one depthwise layer
//!   (`groups = C`, channel multiplier `filters`, `C x filters` outputs); the `mac_array`
//!   family maps it natively, or per channel as SCALE-Sim when the array description says so
//!   (see [`crate::hw::DepthwiseMapping`]).
//! * **GEMM rows** `name, M, N, K,` (the file's rows have 4 fields): SCALE-Sim turns them
//!   into an `M x K` ifmap and `N` filters of `1 x K`; here a [`FullyConnected`] with batch
//!   `M`, `K` input features and `N` outputs, which lowers to the same GEMM.
//!
//! A file holds either conv rows or GEMM rows (SCALE-Sim needs `-i gemm` for the latter;
//! here the field count of the first data row decides).

use crate::diag::FileError;
use crate::ir::{Conv2d, FullyConnected, Graph, Layer, Op, Padding, Tensor, TensorKind, WeightSource};
use std::collections::HashSet;

/// Reads a SCALE-Sim topology file into a validated graph.
pub fn load(path: &str) -> Result<Graph, FileError> {
    let text = crate::bounded_read::read_text(std::path::Path::new(path), crate::bounded_read::MAX_TEXT_BYTES)
        .map_err(|e| FileError::whole(path, format!("cannot read: {e}")))?;
    parse(path, &text)
}

/// A data row: its fields (the trailing empty one dropped) with their byte offsets.
struct Row<'a> {
    start: usize,
    fields: Vec<(usize, &'a str)>,
}

/// Parses the text of a SCALE-Sim topology file (`file` names it in errors).
pub fn parse(file: &str, text: &str) -> Result<Graph, FileError> {
    let err = |span: std::ops::Range<usize>, msg: String| FileError::at(file, text, Some(span), msg);
    let mut rows = Vec::new();
    let mut offset = 0usize;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let start = offset;
        offset += line.len();
        let body = line.trim_end_matches(['\n', '\r']);
        if i == 0 || body.trim().is_empty() {
            continue; // header, blank line
        }
        let mut fields = Vec::new();
        let mut pos = start;
        for f in body.split(',') {
            let lead = f.len() - f.trim_start().len();
            fields.push((pos + lead, f.trim()));
            pos += f.len() + 1;
        }
        match fields.last() {
            Some((_, last)) if last.is_empty() => {
                fields.pop();
            }
            _ => {
                return Err(err(
                    start..start + body.len(),
                    "row must end with a trailing comma (SCALE-Sim drops the last field of every row)".into(),
                ))
            }
        }
        rows.push(Row { start, fields });
    }
    let name = std::path::Path::new(file).file_stem().and_then(|s| s.to_str()).unwrap_or("topology").to_string();
    let mut g = Graph::new(name, WeightSource::Imported { path: file.to_string() });
    let Some(first) = rows.first() else {
        return Err(FileError::whole(file, "no layer rows after the header"));
    };
    let gemm = first.fields.len() == 4;
    let mut names = HashSet::new();
    for row in &rows {
        let expected = if gemm {
            "4 fields (name, M, N, K)"
        } else {
            "8 fields (name, ifmap H, ifmap W, filter H, filter W, channels, filters, stride) and an optional sparsity ratio"
        };
        let ok = if gemm { row.fields.len() == 4 } else { row.fields.len() == 8 || row.fields.len() == 9 };
        if !ok {
            return Err(err(
                row.start..row.start + 1,
                format!("row has {} fields, expected {expected} before the trailing comma", row.fields.len()),
            ));
        }
        const CONV: [&str; 8] =
            ["", "IFMAP Height", "IFMAP Width", "Filter Height", "Filter Width", "Channels", "Num Filter", "Strides"];
        const GEMM: [&str; 4] = ["", "M", "N", "K"];
        let num = |i: usize| -> Result<usize, FileError> {
            let (at, f) = row.fields[i];
            let what = if gemm { GEMM[i] } else { CONV[i] };
            match f.parse::<usize>() {
                Ok(v) if v > 0 => Ok(v),
                _ => Err(err(at..at + f.len().max(1), format!("{what}: '{f}' is not a positive integer"))),
            }
        };
        let (at0, raw_name) = row.fields[0];
        if raw_name.is_empty() {
            return Err(err(at0..at0 + 1, "layer name is empty".into()));
        }
        // Names must be unique in the IR; SCALE-Sim does not care, so repeats get a suffix.
        let mut lname = raw_name.to_string();
        let mut n = 2;
        while !names.insert(lname.clone()) {
            lname = format!("{raw_name}_{n}");
            n += 1;
        }
        let act = |g: &mut Graph, name: String, shape: Vec<usize>| {
            g.add_tensor(Tensor::float(name, shape, TensorKind::Activation))
        };
        let weights = |g: &mut Graph, name: String, shape: Vec<usize>| {
            g.add_tensor(Tensor::float(name, shape, TensorKind::Weight))
        };
        let layer = if gemm {
            let (m, n, k) = (num(1)?, num(2)?, num(3)?);
            let x = act(&mut g, format!("{lname}/input"), vec![m, k]);
            g.inputs.push(x);
            let w = weights(&mut g, format!("{lname}/weights"), vec![n, k]);
            let y = act(&mut g, lname.clone(), vec![m, n]);
            Layer {
                name: lname,
                op: Op::FullyConnected(FullyConnected {
                    out_features: n,
                    bias: false,
                    keep_dims: false,
                    asymmetric_inputs: false,
                }),
                inputs: vec![x, w],
                outputs: vec![y],
                activation: Default::default(),
            }
        } else {
            let (h, w, r, s, c, k, st) = (num(1)?, num(2)?, num(3)?, num(4)?, num(5)?, num(6)?, num(7)?);
            if r > h || s > w {
                let (at, f) = row.fields[if r > h { 3 } else { 4 }];
                return Err(err(
                    at..at + f.len().max(1),
                    format!("filter {r}x{s} is larger than the {h}x{w} ifmap (SCALE-Sim asserts on this: no padding)"),
                ));
            }
            let dp = raw_name.contains("DP");
            let (groups, out, cg) = if dp { (c, c.saturating_mul(k), 1) } else { (1, k, c) };
            let pad = |i: usize, f: usize| (st - (i - f) % st) % st;
            let (oh, ow) = ((h - r).div_ceil(st) + 1, (w - s).div_ceil(st) + 1);
            let x = act(&mut g, format!("{lname}/input"), vec![1, h, w, c]);
            g.inputs.push(x);
            let wt = weights(&mut g, format!("{lname}/weights"), vec![out, r, s, cg]);
            let y = act(&mut g, lname.clone(), vec![1, oh, ow, out]);
            Layer {
                name: lname,
                op: Op::Conv2d(Conv2d {
                    out_channels: out,
                    kernel: [r, s],
                    stride: [st, st],
                    dilation: [1, 1],
                    padding: Padding::Explicit { top: 0, bottom: pad(h, r), left: 0, right: pad(w, s) },
                    groups,
                    bias: false,
                }),
                inputs: vec![x, wt],
                outputs: vec![y],
                activation: Default::default(),
            }
        };
        g.outputs.push(layer.outputs[0]);
        g.layers.push(layer);
    }
    g.validate().map_err(|e| FileError::whole(file, e.to_string()))?;
    Ok(g)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conv_rows_use_scalesims_ceil_output_size() {
        let g = parse("t.csv", "h,\nodd_s3_ceil, 13, 13, 5, 5, 2, 4, 3,\n").unwrap();
        assert_eq!(g.output(&g.layers[0]).shape, vec![1, 4, 4, 4]);
        let g = parse("t.csv", "h,\ng, 7, 3, 5,\n").unwrap();
        assert_eq!(g.output(&g.layers[0]).shape, vec![7, 3]);
    }

    #[test]
    fn errors_name_line_and_field() {
        let e = parse("t.csv", "h,\na, 8, 8, 3, 3, 4, x, 1,\n").unwrap_err();
        assert_eq!((e.line, e.message.as_str()), (2, "Num Filter: 'x' is not a positive integer"));
        let e = parse("t.csv", "h,\na, 8, 8, 3, 3, 4, 2, 1\n").unwrap_err();
        assert!(e.message.contains("trailing comma"), "{e}");
        let e = parse("t.csv", "h,\na, 2, 8, 3, 3, 4, 2, 1,\n").unwrap_err();
        assert!(e.message.contains("larger than"), "{e}");
        assert!(parse("t.csv", "h,\n").is_err());
    }
}
