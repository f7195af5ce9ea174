//! ONNX readers of the convolutions: `Conv`, `ConvTranspose`, and `BatchNormalization` (a
//! per-channel scale and shift folded into the producing convolution, `Importer::affine`).

use super::{attr, attr_f, attr_i, attr_ints, attr_s, Const, Held, Importer, Node, Reader, Res};
use crate::ir::{Conv2d, Op, TensorId, TensorKind, TransposeConv};

/// The op types this module reads, with their readers.
pub(super) const READERS: &[(&str, Reader)] =
    &[("Conv", conv), ("ConvTranspose", conv_transpose), ("BatchNormalization", batch_norm)];

/// The data input of a `Conv` or `ConvTranspose` node (held NHWC) and its 4-D weight
/// constant (float, or integers behind a DequantizeLinear).
fn input_and_weights(im: &mut Importer<'_>, d: &Node<'_>) -> Res<(TensorId, Const)> {
    let (index, n) = (d.index, d.n);
    let x = im.act_nchw(n, index, 0)?;
    let w = im.cst(n, index, 1)?.ok_or_else(|| im.unsupported(n, index, "no weights"))?;
    if w.dims.len() != 4 || w.f.is_empty() {
        return Err(im.unsupported(
            n,
            index,
            &format!("weights of shape {:?} (2-D, float or behind a DequantizeLinear)", w.dims),
        ));
    }
    Ok((x, w))
}

/// `Conv`: weights OIHW become OHWI; a quantized (QDQ) input takes integer weights.
fn conv(im: &mut Importer<'_>, d: &Node<'_>) -> Res<()> {
    let &Node { index, n, name, out } = d;
    let (x, w) = input_and_weights(im, d)?;
    let [o, ig, kh, kw] = [w.dims[0], w.dims[1], w.dims[2], w.dims[3]];
    let groups = attr_i(n, "group", 1).max(1) as usize;
    let conv = Conv2d {
        out_channels: o,
        kernel: [kh, kw],
        stride: im.pair(n, index, "strides", 1)?,
        dilation: im.pair(n, index, "dilations", 1)?,
        padding: im.padding(n, index)?,
        groups,
        bias: true,
    };
    // OIHW -> OHWI: src[k] is the ONNX index of IR element k.
    let mut src = vec![0usize; w.f.len()];
    for oo in 0..o {
        for ci in 0..ig {
            for y in 0..kh {
                for xx in 0..kw {
                    src[((oo * kh + y) * kw + xx) * ig + ci] = ((oo * ig + ci) * kh + y) * kw + xx;
                }
            }
        }
    }
    if im.g.tensor(x).dtype.is_int() {
        let b = im.cst(n, index, 2)?;
        let shape = vec![o, kh, kw, ig];
        let (wid, bid) = im.quantized_weights(n, index, name, x, &w, &src, shape, 0, b.as_ref())?;
        im.add_layer(name, Op::Conv2d(conv), vec![x, wid, bid], out, Held::Nchw)?;
        return Ok(());
    }
    let ohwi: Vec<f32> = src.iter().map(|&k| w.f[k]).collect();
    let bias = match im.cst(n, index, 2)? {
        Some(b) if b.f.len() == o => b.f,
        Some(b) => return Err(im.invalid(format!("node {index} (Conv): bias has {} values", b.f.len()))),
        None => vec![0.0; o],
    };
    let wid = im.add_const(&format!("{name}/weights"), TensorKind::Weight, vec![o, kh, kw, ig], ohwi);
    let bid = im.add_const(&format!("{name}/bias"), TensorKind::Bias, vec![o], bias);
    im.add_layer(name, Op::Conv2d(conv), vec![x, wid, bid], out, Held::Nchw)?;
    Ok(())
}

/// ConvTranspose (2-D, one group, no dilation): weights `[cin, cout, kh, kw]` to OHWI;
/// the output from `pads` and `output_padding` (`out = stride * (in - 1) +
/// output_padding + kernel - pad_begin - pad_end`), the begin pads cropped. Every layer
/// gets a bias (zeros when the node has none), as Conv's do.
fn conv_transpose(im: &mut Importer<'_>, d: &Node<'_>) -> Res<()> {
    let &Node { index, n, name, out } = d;
    let (x, w) = input_and_weights(im, d)?;
    let [cin, o, kh, kw] = [w.dims[0], w.dims[1], w.dims[2], w.dims[3]];
    if attr_i(n, "group", 1) != 1 {
        return Err(im.unsupported(n, index, "group other than 1"));
    }
    if im.pair(n, index, "dilations", 1)? != [1, 1] {
        return Err(im.unsupported(n, index, "dilations other than 1"));
    }
    if attr(n, "output_shape").is_some() {
        return Err(im.unsupported(n, index, "the output_shape attribute (give pads and output_padding)"));
    }
    let auto_pad = attr_s(n, "auto_pad");
    if !matches!(auto_pad.as_str(), "" | "NOTSET" | "VALID") {
        return Err(im.unsupported(n, index, &format!("auto_pad {auto_pad}")));
    }
    let stride = im.pair(n, index, "strides", 1)?;
    let pads = match attr_ints(n, "pads") {
        _ if auto_pad == "VALID" => vec![0; 4],
        None => vec![0; 4],
        Some(p) if p.len() == 4 && p.iter().all(|&v| v >= 0) => p,
        Some(p) => return Err(im.unsupported(n, index, &format!("pads {p:?} (2-D, non-negative only)"))),
    };
    let extra = match attr_ints(n, "output_padding") {
        None => [0, 0],
        Some(p) if p.len() == 2 && p.iter().zip(stride).all(|(&v, s)| v >= 0 && (v as usize) < s) => {
            [p[0] as usize, p[1] as usize]
        }
        Some(p) => return Err(im.unsupported(n, index, &format!("output_padding {p:?} (2-D, below the stride)"))),
    };
    let ih = im.g.tensor(x).shape[1..3].to_vec();
    let mut output = [0usize; 2];
    for d in 0..2 {
        let full = ih[d].saturating_sub(1).saturating_mul(stride[d]).saturating_add(extra[d] + [kh, kw][d]);
        let crop = (pads[d] + pads[d + 2]) as usize;
        output[d] = full
            .checked_sub(crop)
            .filter(|&v| v > 0)
            .ok_or_else(|| im.invalid(format!("node {index} (ConvTranspose): pads {pads:?} crop the whole output")))?;
    }
    let t = TransposeConv {
        out_channels: o,
        kernel: [kh, kw],
        stride,
        pad: [pads[0] as usize, pads[1] as usize],
        output,
        bias: true,
    };
    // [cin, cout, kh, kw] -> OHWI: src[k] is the ONNX index of IR element k.
    let mut src = vec![0usize; w.f.len()];
    for oo in 0..o {
        for ci in 0..cin {
            for y in 0..kh {
                for xx in 0..kw {
                    src[((oo * kh + y) * kw + xx) * cin + ci] = ((ci * o + oo) * kh + y) * kw + xx;
                }
            }
        }
    }
    let (wid, bid) = if im.g.tensor(x).dtype.is_int() {
        let b = im.cst(n, index, 2)?;
        im.quantized_weights(n, index, name, x, &w, &src, vec![o, kh, kw, cin], 1, b.as_ref())?
    } else {
        let ohwi: Vec<f32> = src.iter().map(|&k| w.f[k]).collect();
        let bias = match im.cst(n, index, 2)? {
            Some(b) if b.f.len() == o => b.f,
            Some(b) => return Err(im.invalid(format!("node {index} (ConvTranspose): bias has {} values", b.f.len()))),
            None => vec![0.0; o],
        };
        let wid = im.add_const(&format!("{name}/weights"), TensorKind::Weight, vec![o, kh, kw, cin], ohwi);
        (wid, im.add_const(&format!("{name}/bias"), TensorKind::Bias, vec![o], bias))
    };
    im.add_layer(name, Op::TransposeConv(t), vec![x, wid, bid], out, Held::Nchw)?;
    Ok(())
}

/// `BatchNormalization` (inference): a per-channel scale and shift, folded into the
/// producing Conv / Gemm when it can be (`Importer::affine`).
fn batch_norm(im: &mut Importer<'_>, d: &Node<'_>) -> Res<()> {
    let &Node { index, n, name, out } = d;
    // Channels are ONNX axis 1: the IR's last axis of an NCHW tensor held NHWC
    // and of a rank-2 one.
    let (x, l) = im.act(n, index, 0)?;
    let (x, l) = match im.g.tensor(x).shape.len() {
        4 => (im.to_layout(x, l, Held::Nchw)?, Held::Nchw),
        2 => (x, l),
        r => return Err(im.unsupported(n, index, &format!("a rank-{r} input (ranks 2 and 4 only)"))),
    };
    let eps = attr_f(n, "epsilon", 1e-5);
    if n.output.iter().skip(1).any(|o| !o.is_empty()) {
        return Err(im.unsupported(n, index, "training mode (running mean and variance outputs)"));
    }
    let get = |k: usize| -> Res<Vec<f32>> {
        im.cst(n, index, k)?.map(|c| c.f).ok_or_else(|| im.unsupported(n, index, &format!("no input {k}")))
    };
    let (gamma, beta, mean, var) = (get(1)?, get(2)?, get(3)?, get(4)?);
    let c = *im.onnx_shape(x, l).get(1).ok_or_else(|| im.unsupported(n, index, "a rank-1 input"))?;
    if [&gamma, &beta, &mean, &var].iter().any(|v| v.len() != c) {
        return Err(im.invalid(format!("node {index} (BatchNormalization): parameters are not {c} floats")));
    }
    let scale: Vec<f32> = (0..c).map(|k| gamma[k] / (var[k] + eps).sqrt()).collect();
    let shift: Vec<f32> = (0..c).map(|k| beta[k] - mean[k] * scale[k]).collect();
    im.affine(n, index, name, 0, x, l, scale, shift, out)?;
    Ok(())
}
