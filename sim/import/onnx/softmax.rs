//! The ONNX reader of `Softmax`.

use super::{attr_i, Held, Importer, Node, Reader, Res};
use crate::ir::{Op, Softmax};

/// The op types this module reads, with their readers.
pub(super) const READERS: &[(&str, Reader)] = &[("Softmax", softmax)];

/// `Softmax` over the channel / last axis.
fn softmax(im: &mut Importer<'_>, d: &Node<'_>) -> Res<()> {
    let &Node { index, n, name, out } = d;
    let (x, l) = im.act(n, index, 0)?;
    let rank = im.g.tensor(x).shape.len();
    let axis = attr_i(n, "axis", -1);
    // The IR's softmax runs over the last (NHWC channel) axis: an NCHW tensor's
    // W axis is the last one in the ONNX order.
    let last = Ok(rank.saturating_sub(1));
    let (x, l) = if l.ir_axis(axis, rank) != last && Held::Same.ir_axis(axis, rank) == last {
        (im.to_layout(x, l, Held::Same)?, Held::Same)
    } else {
        (x, l)
    };
    if l.ir_axis(axis, rank) != Ok(rank.saturating_sub(1)) {
        let a = if axis < 0 { axis + rank as i64 } else { axis };
        return Err(im.unsupported(n, index, &format!("softmax over axis {a} (only the channel/last axis)")));
    }
    im.add_layer(name, Op::Softmax(Softmax { beta: 1.0, causal: false }), vec![x], out, l)?;
    Ok(())
}
