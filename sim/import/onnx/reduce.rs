//! ONNX readers of the reductions: `ReduceMean` and `ReduceMax`.

use super::{attr_i, attr_ints, Held, Importer, Node, Reader, Res, Value};
use crate::ir::{Op, Reduce, ReduceKind};

/// The op types this module reads, with their readers.
pub(super) const READERS: &[(&str, Reader)] =
    &[("ReduceMean", |im, d| reduce(im, d, ReduceKind::Mean)), ("ReduceMax", |im, d| reduce(im, d, ReduceKind::Max))];

/// `ReduceMean` / `ReduceMax`.
fn reduce(im: &mut Importer<'_>, d: &Node<'_>, kind: ReduceKind) -> Res<()> {
    let &Node { index, n, name, out } = d;
    let (x, l) = im.act(n, index, 0)?;
    let rank = im.g.tensor(x).shape.len();
    // Axes: the attribute before opset 18, the optional input since.
    let axes = match im.cst(n, index, 1)?.map(|c| c.i).or_else(|| attr_ints(n, "axes")) {
        Some(a) if !a.is_empty() => a,
        _ if attr_i(n, "noop_with_empty_axes", 0) != 0 => {
            im.values.insert(out.into(), Value::Act(x, l));
            return Ok(());
        }
        _ => (0..rank as i64).collect(),
    };
    let ir_axes = |l: Held| -> Result<Vec<usize>, i64> {
        let mut ir: Vec<usize> = axes.iter().map(|&a| l.ir_axis(a, rank)).collect::<Result<_, _>>()?;
        ir.sort_unstable();
        ir.dedup();
        Ok(ir)
    };
    let ir = ir_axes(l).map_err(|a| im.unsupported(n, index, &format!("axis {a} of a rank-{rank} input")))?;
    let keep_dims = attr_i(n, "keepdims", 1) != 0;
    // Without kept dims an NCHW tensor loses axes; what remains is in NHWC order
    // in the IR, which is the ONNX order unless C and H or W remain: then the
    // tensor is reduced in the ONNX order.
    let (x, ir, layout) = match (l, keep_dims) {
        (l, true) => (x, ir, l),
        (Held::Same, false) => (x, ir, Held::Same),
        (Held::Nchw, false) if ir.contains(&3) || (ir.contains(&1) && ir.contains(&2)) => (x, ir, Held::Same),
        (Held::Nchw, false) => {
            let ir = ir_axes(Held::Same).map_err(|a| im.invalid(format!("axis {a}")))?;
            (im.to_layout(x, l, Held::Same)?, ir, Held::Same)
        }
    };
    let op = Op::Reduce(Reduce { kind, axes: ir, keep_dims });
    im.add_layer(name, op, vec![x], out, layout)?;
    Ok(())
}
