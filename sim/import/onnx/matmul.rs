//! ONNX readers of the matrix products: `Gemm`, and `MatMul` (by a constant: a fully
//! connected layer; of two activations: a BATCH_MATMUL).

use super::{attr_f, attr_i, Held, Importer, Node, Reader, Res, Value};
use crate::ir::{FullyConnected, MatMul, Op, TensorKind};

/// The op types this module reads, with their readers.
pub(super) const READERS: &[(&str, Reader)] = &[("Gemm", gemm), ("MatMul", matmul)];

/// `MatMul`: of two activations, a BATCH_MATMUL; by a constant, as `Gemm`.
fn matmul(im: &mut Importer<'_>, d: &Node<'_>) -> Res<()> {
    if matches!(d.n.input.get(1).and_then(|i| im.values.get(i)), Some(Value::Act(..))) {
        matmul_acts(im, d)
    } else {
        gemm(im, d)
    }
}

/// `MatMul` of two activations (attention's Q K^T, P V): a BATCH_MATMUL.
fn matmul_acts(im: &mut Importer<'_>, d: &Node<'_>) -> Res<()> {
    let &Node { index, n, name, out } = d;
    // Both operands computed by the network (attention's Q K^T, P V).
    // Multiplied in the ONNX order (an NCHW tensor held NHWC transposed back).
    let (a, la) = im.act(n, index, 0)?;
    let (b, lb) = im.act(n, index, 1)?;
    let a = im.to_layout(a, la, Held::Same)?;
    let b = im.to_layout(b, lb, Held::Same)?;
    let ranks = [a, b].map(|t| im.g.tensor(t).shape.len());
    if ranks.iter().any(|r| !(2..=5).contains(r)) {
        return Err(im.unsupported(n, index, &format!("a MatMul of ranks {ranks:?} (2 to 5 only)")));
    }
    im.add_layer(name, Op::MatMul(MatMul { adj_x: false, adj_y: false }), vec![a, b], out, Held::Same)?;
    Ok(())
}

/// `Gemm`, and `MatMul` by a constant: a fully connected layer.
fn gemm(im: &mut Importer<'_>, d: &Node<'_>) -> Res<()> {
    let &Node { index, n, name, out } = d;
    let (x, l) = im.act(n, index, 0)?;
    let xs = im.onnx_shape(x, l);
    let x = im.onnx_ordered(x, l)?;
    if n.op_type == "MatMul" && xs.len() != 2 {
        return Err(im.unsupported(n, index, &format!("MatMul of a rank-{} input", xs.len())));
    }
    if attr_i(n, "transA", 0) != 0 {
        return Err(im.unsupported(n, index, "transA = 1"));
    }
    let w = im.cst(n, index, 1)?.ok_or_else(|| im.unsupported(n, index, "no weights"))?;
    if w.dims.len() != 2 || w.f.is_empty() {
        return Err(im.unsupported(n, index, &format!("weights of shape {:?}", w.dims)));
    }
    let trans_b = n.op_type == "Gemm" && attr_i(n, "transB", 0) != 0;
    let (k, nf) = if trans_b { (w.dims[1], w.dims[0]) } else { (w.dims[0], w.dims[1]) };
    if xs.len() == 2 && xs[1] != k {
        return Err(im.unsupported(
            n,
            index,
            &format!("an input of shape {xs:?} against weights of {k} input features"),
        ));
    }
    let alpha = if n.op_type == "Gemm" { attr_f(n, "alpha", 1.0) } else { 1.0 };
    let beta = if n.op_type == "Gemm" { attr_f(n, "beta", 1.0) } else { 1.0 };
    let mut src = vec![0usize; k * nf];
    for o in 0..nf {
        for i in 0..k {
            src[o * k + i] = if trans_b { o * k + i } else { i * nf + o };
        }
    }
    let bias = if n.op_type == "Gemm" { im.cst(n, index, 2)? } else { None };
    if im.g.tensor(x).dtype.is_int() {
        if alpha != 1.0 || (beta != 1.0 && bias.is_some()) {
            return Err(im.unsupported(n, index, "alpha or beta other than 1 with quantized (QDQ) inputs"));
        }
        let out_axis = if trans_b { 0 } else { 1 };
        let (wid, bid) = im.quantized_weights(n, index, name, x, &w, &src, vec![nf, k], out_axis, bias.as_ref())?;
        let fc = FullyConnected { out_features: nf, bias: true, keep_dims: false, asymmetric_inputs: false };
        im.add_layer(name, Op::FullyConnected(fc), vec![x, wid, bid], out, Held::Same)?;
        return Ok(());
    }
    let wt: Vec<f32> = src.iter().map(|&i| w.f[i] * alpha).collect();
    let mut inputs = vec![x];
    inputs.push(im.add_const(&format!("{name}/weights"), TensorKind::Weight, vec![nf, k], wt));
    if let Some(b) = &bias {
        let bv: Vec<f32> = if b.f.len() == nf {
            b.f.iter().map(|v| v * beta).collect()
        } else if b.f.len() == 1 {
            vec![b.f[0] * beta; nf]
        } else {
            return Err(im.unsupported(n, index, &format!("bias C of shape {:?}", b.dims)));
        };
        inputs.push(im.add_const(&format!("{name}/bias"), TensorKind::Bias, vec![nf], bv));
    }
    let fc = FullyConnected { out_features: nf, bias: bias.is_some(), keep_dims: false, asymmetric_inputs: false };
    im.add_layer(name, Op::FullyConnected(fc), inputs, out, Held::Same)?;
    Ok(())
}
