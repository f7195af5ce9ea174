//! ONNX readers of pooling: `MaxPool`, `AveragePool` and `GlobalAveragePool`.

use super::{attr_i, attr_ints, Held, Importer, Node, Reader, Res};
use crate::ir::{Op, Padding, Pool, PoolKind, Reduce, ReduceKind};

/// The op types this module reads, with their readers.
pub(super) const READERS: &[(&str, Reader)] = &[
    ("MaxPool", |im, d| pool(im, d, PoolKind::Max)),
    ("AveragePool", |im, d| pool(im, d, PoolKind::Avg)),
    ("GlobalAveragePool", global_average_pool),
];

/// `MaxPool` / `AveragePool` (2-D).
fn pool(im: &mut Importer<'_>, d: &Node<'_>, kind: PoolKind) -> Res<()> {
    let &Node { index, n, name, out } = d;
    let x = im.act_nchw(n, index, 0)?;
    if attr_i(n, "ceil_mode", 0) != 0 {
        return Err(im.unsupported(n, index, "ceil_mode = 1"));
    }
    if n.output.len() > 1 && !n.output[1].is_empty() {
        return Err(im.unsupported(n, index, "the Indices output"));
    }
    if attr_ints(n, "dilations").is_some_and(|d| d.iter().any(|&v| v != 1)) {
        return Err(im.unsupported(n, index, "dilated pooling"));
    }
    let padding = im.padding(n, index)?;
    let padded = !matches!(padding, Padding::Valid | Padding::Explicit { top: 0, bottom: 0, left: 0, right: 0 });
    if kind == PoolKind::Avg && attr_i(n, "count_include_pad", 0) != 0 && padded {
        return Err(im.unsupported(n, index, "count_include_pad = 1 with padding"));
    }
    let kernel = attr_ints(n, "kernel_shape").unwrap_or_default();
    if kernel.len() != 2 || kernel.iter().any(|&k| k <= 0) {
        return Err(im.unsupported(n, index, &format!("kernel_shape {kernel:?} (2-D only)")));
    }
    let pool = Pool {
        kind,
        kernel: [kernel[0] as usize, kernel[1] as usize],
        stride: im.pair(n, index, "strides", 1)?,
        padding,
    };
    im.add_layer(name, Op::Pool(pool), vec![x], out, Held::Nchw)?;
    Ok(())
}

/// `GlobalAveragePool`: a mean over H and W, kept dims.
fn global_average_pool(im: &mut Importer<'_>, d: &Node<'_>) -> Res<()> {
    let &Node { index, n, name, out } = d;
    let x = im.act_nchw(n, index, 0)?;
    im.add_layer(
        name,
        Op::Reduce(Reduce { kind: ReduceKind::Mean, axes: vec![1, 2], keep_dims: true }),
        vec![x],
        out,
        Held::Nchw,
    )?;
    Ok(())
}
