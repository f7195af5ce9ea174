//! The ONNX reader of the recurrent layers: `LSTM` and `GRU`.

use super::{attr, attr_i, attr_s, Held, Importer, Node, Reader, Res, Value};
use crate::ir::{Direction, Op, Recurrent, RecurrentKind, TensorKind};

/// The op types this module reads, with their readers.
pub(super) const READERS: &[(&str, Reader)] =
    &[("LSTM", |im, d| recurrent(im, d, RecurrentKind::Lstm)), ("GRU", |im, d| recurrent(im, d, RecurrentKind::Gru))];

/// ONNX `LSTM` / `GRU` (opsets 7 to 21, as PyTorch exports them): layout 0, the default
/// activations, no clip, no peepholes, no `input_forget`, full-length sequences; other
/// forms are refused by name. `W`, `R` and `B` must be constants (float, or integers
/// behind a DequantizeLinear: dequantized, as the family runs in float); the initial
/// states may be activations or constants. A quantized (QDQ) input is dequantized by a
/// `Dequantize` layer first, as onnxruntime runs the node in float between a
/// DequantizeLinear and a QuantizeLinear.
fn recurrent(im: &mut Importer<'_>, d: &Node<'_>, kind: RecurrentKind) -> Res<()> {
    let &Node { index, n, name, .. } = d;
    let gates = kind.gates();
    let direction = match attr_s(n, "direction").as_str() {
        "" | "forward" => Direction::Forward,
        "reverse" => Direction::Reverse,
        "bidirectional" => Direction::Bidirectional,
        other => return Err(im.unsupported(n, index, &format!("direction '{other}'"))),
    };
    let d = direction.count();
    if let Some(a) = attr(n, "activations") {
        let want: &[&str] =
            if kind == RecurrentKind::Lstm { &["sigmoid", "tanh", "tanh"] } else { &["sigmoid", "tanh"] };
        let got: Vec<String> = a.strings.iter().map(|s| String::from_utf8_lossy(s).to_lowercase()).collect();
        let default =
            got.len() == want.len() * d && got.chunks(want.len()).all(|c| c.iter().zip(want).all(|(g, w)| g == w));
        if !default {
            return Err(im.unsupported(
                n,
                index,
                &format!("activations {got:?} (only the defaults: {} per direction)", want.join(", ")),
            ));
        }
    }
    for refused in ["clip", "activation_alpha", "activation_beta"] {
        if attr(n, refused).is_some() {
            return Err(im.unsupported(n, index, &format!("attribute '{refused}'")));
        }
    }
    if attr_i(n, "input_forget", 0) != 0 {
        return Err(im.unsupported(n, index, "input_forget = 1"));
    }
    if attr_i(n, "layout", 0) != 0 {
        return Err(im.unsupported(n, index, "layout = 1 (batch first); only layout 0 ([steps, batch, input])"));
    }
    let linear_before_reset = kind == RecurrentKind::Gru && attr_i(n, "linear_before_reset", 0) != 0;
    let (x, _) = im.act(n, index, 0)?;
    let x = im.float_input(name, x, "X")?;
    let xs = im.g.tensor(x).shape.clone();
    let [steps, batch, input] = xs[..] else {
        return Err(im.unsupported(n, index, &format!("X of shape {xs:?} (expected [steps, batch, input])")));
    };
    let w = im.cst(n, index, 1)?.ok_or_else(|| im.unsupported(n, index, "no W"))?;
    let r = im.cst(n, index, 2)?.ok_or_else(|| im.unsupported(n, index, "no R"))?;
    let hidden = match attr(n, "hidden_size") {
        Some(_) => attr_i(n, "hidden_size", 0).max(0) as usize,
        None => r.dims.last().copied().unwrap_or(0),
    };
    let gh = gates * hidden;
    for (c, what, want) in [(&w, "W", vec![d, gh, input]), (&r, "R", vec![d, gh, hidden])] {
        if c.dims != want || c.f.len() != want.iter().product::<usize>() {
            return Err(im.unsupported(n, index, &format!("{what} of shape {:?} (expected {want:?}, float)", c.dims)));
        }
    }
    let b = match im.cst(n, index, 3)? {
        Some(c) if c.dims == [d, 2 * gh] && c.f.len() == d * 2 * gh => c.f,
        Some(c) => {
            return Err(im.unsupported(n, index, &format!("B of shape {:?} (expected [{d}, {}])", c.dims, 2 * gh)))
        }
        None => vec![0.0; d * 2 * gh],
    };
    if n.input.get(4).is_some_and(|s| !s.is_empty()) {
        match im.cst(n, index, 4)? {
            Some(c) if c.i.iter().all(|&v| v == steps as i64) && c.i.len() == batch => {}
            _ => {
                return Err(im.unsupported(
                    n,
                    index,
                    "sequence_lens other than a constant of the full length (variable-length sequences)",
                ))
            }
        }
    }
    if kind == RecurrentKind::Lstm && n.input.get(7).is_some_and(|s| !s.is_empty()) {
        return Err(im.unsupported(n, index, "peepholes (input P)"));
    }
    let mut inputs = vec![
        x,
        im.add_const(&format!("{name}/W"), TensorKind::Weight, w.dims.clone(), w.f.clone()),
        im.add_const(&format!("{name}/R"), TensorKind::Weight, r.dims.clone(), r.f.clone()),
        im.add_const(&format!("{name}/B"), TensorKind::Bias, vec![d, 2 * gh], b),
    ];
    // The initial states: h (input 5), and c (input 6) for LSTM; a missing h before a
    // given c is zeros.
    let states = kind.states();
    let given: Vec<bool> = (0..states).map(|s| n.input.get(5 + s).is_some_and(|i| !i.is_empty())).collect();
    let last = given.iter().rposition(|&g| g);
    for s in 0..last.map_or(0, |p| p + 1) {
        let what = if s == 0 { "initial_h" } else { "initial_c" };
        let shape = vec![d, batch, hidden];
        let t = if !given[s] {
            im.add_const(&format!("{name}/{what}"), TensorKind::Constant, shape, vec![0.0; d * batch * hidden])
        } else {
            match n.input.get(5 + s).and_then(|i| im.values.get(i)).cloned() {
                Some(Value::Const(c)) => {
                    if c.dims != shape || c.f.len() != d * batch * hidden {
                        return Err(im.unsupported(
                            n,
                            index,
                            &format!("{what} of shape {:?} (expected {shape:?}, float)", c.dims),
                        ));
                    }
                    im.add_const(&format!("{name}/{what}"), TensorKind::Constant, shape, c.f)
                }
                _ => {
                    let (t, _) = im.act(n, index, 5 + s)?;
                    im.float_input(name, t, what)?
                }
            }
        };
        inputs.push(t);
    }
    let rec = Recurrent { kind, hidden, direction, linear_before_reset, cell_clip: None };
    let outs: Vec<String> = (0..rec.outputs())
        .map(|k| match n.output.get(k).filter(|o| !o.is_empty()) {
            Some(o) => o.clone(),
            None => format!("{name}/{}", ["Y", "Y_h", "Y_c"][k]),
        })
        .collect();
    let ids = im.push_layer(name, Op::Recurrent(rec), inputs, &outs)?;
    for (k, &t) in ids.iter().enumerate() {
        if n.output.get(k).is_some_and(|o| !o.is_empty()) {
            im.values.insert(outs[k].clone(), Value::Act(t, Held::Same));
        }
    }
    Ok(())
}
