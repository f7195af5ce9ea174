//! The element-wise unary kinds: [`Op::Unary`], by their rows in `UNARY` (LEAKY_RELU's
//! alpha in its options); a kind without a row (ONNX's HardSigmoid) is refused by name.

use super::{corrupt, ReadCtx, WriteCtx, Written};
use crate::export::ExportError;
use crate::import::tflite::generated::tflite as fb;
use crate::import::tflite::LayerErr;
use crate::ir::{Activation, Layer, Op, UnaryKind};

pub(super) fn read(cx: &mut ReadCtx<'_, '_>) -> Result<Layer, LayerErr> {
    let kind = of_code(cx.code, cx.opts).ok_or(LayerErr::Unsupported(String::new()))?.map_err(corrupt(cx.imp))?;
    cx.layer(Op::Unary(kind), vec![cx.input(0)?], Activation::None)
}

pub(super) fn write(cx: &mut WriteCtx<'_>, kind: UnaryKind) -> Result<Written, ExportError> {
    let (row, options) = of_kind(kind)
        .ok_or_else(|| cx.err(format!("TFLite has no operator for the element-wise {}", cx.l.op.name())))?;
    Ok(Written { code: row.code, version: cx.version(row.versions), options })
}

/// One element-wise unary kind in TFLite.
pub(crate) struct UnaryCode {
    /// The IR kind (LEAKY_RELU's alpha is read from the options by [`of_code`]).
    pub kind: UnaryKind,
    /// TFLite's builtin operator.
    pub code: fb::BuiltinOperator,
    /// Operator version for 8-bit operands and for wider (16x8) ones.
    pub versions: [i32; 2],
    /// The operator's options made from the kind's alpha (`None`: it has no options).
    pub options: Option<fn(f32) -> fb::BuiltinOptions>,
}

fn leaky_relu_options(alpha: f32) -> fb::BuiltinOptions {
    fb::BuiltinOptions::LeakyReluOptions(Box::new(fb::LeakyReluOptions { alpha }))
}

/// The element-wise unary kinds TFLite has.
pub(crate) const UNARY: &[UnaryCode] = &[
    UnaryCode { kind: UnaryKind::Logistic, code: fb::BuiltinOperator::Logistic, versions: [2, 3], options: None },
    UnaryCode { kind: UnaryKind::Tanh, code: fb::BuiltinOperator::Tanh, versions: [2, 3], options: None },
    UnaryCode { kind: UnaryKind::HardSwish, code: fb::BuiltinOperator::HardSwish, versions: [1, 1], options: None },
    UnaryCode {
        kind: UnaryKind::LeakyRelu { alpha: 0.0 },
        code: fb::BuiltinOperator::LeakyRelu,
        versions: [2, 2],
        options: Some(leaky_relu_options),
    },
    UnaryCode { kind: UnaryKind::Relu, code: fb::BuiltinOperator::Relu, versions: [2, 3], options: None },
    UnaryCode { kind: UnaryKind::Relu6, code: fb::BuiltinOperator::Relu6, versions: [2, 2], options: None },
    UnaryCode { kind: UnaryKind::ReluN1To1, code: fb::BuiltinOperator::ReluN1To1, versions: [2, 2], options: None },
    UnaryCode { kind: UnaryKind::Sqrt, code: fb::BuiltinOperator::Sqrt, versions: [1, 1], options: None },
    UnaryCode { kind: UnaryKind::Rsqrt, code: fb::BuiltinOperator::Rsqrt, versions: [1, 1], options: None },
    UnaryCode { kind: UnaryKind::Log, code: fb::BuiltinOperator::Log, versions: [1, 1], options: None },
    UnaryCode { kind: UnaryKind::Neg, code: fb::BuiltinOperator::Neg, versions: [2, 2], options: None },
    UnaryCode { kind: UnaryKind::Square, code: fb::BuiltinOperator::Square, versions: [1, 1], options: None },
    // One operator for both GELUs: `approximate` tells them apart (read by [`of_code`]).
    UnaryCode { kind: UnaryKind::Gelu, code: fb::BuiltinOperator::Gelu, versions: [1, 1], options: Some(gelu_options) },
    UnaryCode {
        kind: UnaryKind::GeluTanh,
        code: fb::BuiltinOperator::Gelu,
        versions: [1, 1],
        options: Some(gelu_tanh_options),
    },
];

fn gelu_options(_: f32) -> fb::BuiltinOptions {
    fb::BuiltinOptions::GeluOptions(Box::new(fb::GeluOptions { approximate: false }))
}

fn gelu_tanh_options(_: f32) -> fb::BuiltinOptions {
    fb::BuiltinOptions::GeluOptions(Box::new(fb::GeluOptions { approximate: true }))
}

/// The unary kind of a TFLite operator with its options (LEAKY_RELU's alpha), if it is one.
pub(crate) fn of_code(
    code: fb::BuiltinOperator,
    options: Option<fb::BuiltinOptionsRef<'_>>,
) -> Option<Result<UnaryKind, planus::Error>> {
    let row = UNARY.iter().find(|r| r.code == code)?;
    Some(match (row.kind, options) {
        (UnaryKind::LeakyRelu { .. }, Some(fb::BuiltinOptionsRef::LeakyReluOptions(o))) => {
            o.alpha().map(|alpha| UnaryKind::LeakyRelu { alpha })
        }
        (UnaryKind::LeakyRelu { .. }, _) => Ok(UnaryKind::LeakyRelu { alpha: 0.0 }),
        // GELU without options is exact (`approximate` defaults to false).
        (UnaryKind::Gelu, Some(fb::BuiltinOptionsRef::GeluOptions(o))) => {
            o.approximate().map(|a| if a { UnaryKind::GeluTanh } else { UnaryKind::Gelu })
        }
        (k, _) => Ok(k),
    })
}

/// TFLite's row of a unary kind and the operator's options, if TFLite has the kind (it has
/// no HARD_SIGMOID or SILU).
pub(crate) fn of_kind(kind: UnaryKind) -> Option<(&'static UnaryCode, Option<fb::BuiltinOptions>)> {
    let row = UNARY.iter().find(|r| std::mem::discriminant(&r.kind) == std::mem::discriminant(&kind))?;
    let options = row.options.map(|make| make(kind.parameters().0.unwrap_or(0.0)));
    Some((row, options))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unary_kind_round_trips() {
        for r in crate::ops::unary::TABLE {
            let k = match r.kind {
                UnaryKind::LeakyRelu { .. } => UnaryKind::LeakyRelu { alpha: 0.25 },
                k => k,
            };
            let Some((c, _)) = of_kind(k) else {
                // ONNX's HardSigmoid and SiLU have no TFLite operator.
                assert!(matches!(k, UnaryKind::HardSigmoid { .. } | UnaryKind::Silu), "{k:?} has no TFLite row");
                continue;
            };
            // Without options TFLite's GELU is the exact one; the tanh form's `approximate`
            // option is read from LiteRT's own files (`tests/op_goldens.rs`, `gelu_tanh_int8`).
            if k == UnaryKind::GeluTanh {
                assert!(matches!(of_kind(k), Some((_, Some(fb::BuiltinOptions::GeluOptions(o)))) if o.approximate));
                continue;
            }
            let back = of_code(c.code, None).expect("a row").expect("options");
            assert_eq!(std::mem::discriminant(&back), std::mem::discriminant(&k));
        }
    }
}
