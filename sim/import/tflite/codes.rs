//! TFLite's codes for accelsim's fused activations and element-wise binary kinds, one table
//! each with both directions side by side: the importer reads them and the exporter
//! (`export/tflite.rs`) writes them, so the two cannot disagree.

use super::generated::tflite as fb;
use crate::ir::{Activation, BinaryKind, Convert, PoolKind, ResizeKind, UnaryKind};

/// The names of an enum of `schema.fbs` (`BuiltinOperator`, `TensorType`) by value, as
/// the schema spells them (`EXPAND_DIMS`, `CONV_2D`): read once from the schema beside the
/// generated code, so error messages use LiteRT's own spelling.
fn schema_enum(name: &str) -> Vec<(i64, &'static str)> {
    const SCHEMA: &str = include_str!("schema.fbs");
    let Some(start) = SCHEMA.find(&format!("enum {name} ")) else { return Vec::new() };
    let body = &SCHEMA[start..];
    let body = &body[body.find('{').map_or(0, |i| i + 1)..body.find('}').unwrap_or(0)];
    body.lines()
        .filter_map(|l| {
            let l = l.split("//").next()?.trim().trim_end_matches(',');
            let (k, v) = l.split_once('=')?;
            Some((v.trim().parse().ok()?, k.trim()))
        })
        .collect()
}

/// LiteRT's name of a builtin operator code (`EXPAND_DIMS`), or `builtin code N`.
pub(crate) fn builtin_name(code: i32) -> String {
    static NAMES: std::sync::OnceLock<Vec<(i64, &'static str)>> = std::sync::OnceLock::new();
    let names = NAMES.get_or_init(|| schema_enum("BuiltinOperator"));
    names.iter().find(|(v, _)| *v == code as i64).map_or_else(|| format!("builtin code {code}"), |(_, n)| n.to_string())
}

/// LiteRT's name of a tensor type code (`FLOAT16`), or `type code N`.
pub(crate) fn tensor_type_name(code: i32) -> String {
    static NAMES: std::sync::OnceLock<Vec<(i64, &'static str)>> = std::sync::OnceLock::new();
    let names = NAMES.get_or_init(|| schema_enum("TensorType"));
    names.iter().find(|(v, _)| *v == code as i64).map_or_else(|| format!("type code {code}"), |(_, n)| n.to_string())
}

/// LiteRT's name of a fused activation code (`TANH`), or `activation code N`.
pub(crate) fn activation_name(code: i32) -> String {
    static NAMES: std::sync::OnceLock<Vec<(i64, &'static str)>> = std::sync::OnceLock::new();
    let names = NAMES.get_or_init(|| schema_enum("ActivationFunctionType"));
    names
        .iter()
        .find(|(v, _)| *v == code as i64)
        .map_or_else(|| format!("activation code {code}"), |(_, n)| n.to_string())
}

/// Every IR activation and TFLite's code for it.
const ACTIVATIONS: [(Activation, fb::ActivationFunctionType); 4] = [
    (Activation::None, fb::ActivationFunctionType::None),
    (Activation::Relu, fb::ActivationFunctionType::Relu),
    (Activation::Relu6, fb::ActivationFunctionType::Relu6),
    (Activation::ReluN1To1, fb::ActivationFunctionType::ReluN1To1),
];

/// The IR activation of a TFLite fused activation (`None` for one the IR has not: TANH, ...).
pub(crate) fn activation_in(a: fb::ActivationFunctionType) -> Option<Activation> {
    ACTIVATIONS.iter().find(|(_, t)| *t == a).map(|(ir, _)| *ir)
}

/// TFLite's code for an IR activation.
pub(crate) fn activation_out(a: Activation) -> fb::ActivationFunctionType {
    ACTIVATIONS.iter().find(|(ir, _)| *ir == a).map_or(fb::ActivationFunctionType::None, |(_, t)| *t)
}

/// One element-wise binary kind in TFLite.
pub(crate) struct BinaryCode {
    /// The IR kind.
    pub kind: BinaryKind,
    /// TFLite's builtin operator.
    pub code: fb::BuiltinOperator,
    /// Operator version for 8-bit operands and for wider (16x8) ones.
    pub versions: [i32; 2],
    /// The fused activation in the operator's options (`Ok(None)` without options).
    pub read_activation:
        fn(Option<fb::BuiltinOptionsRef<'_>>) -> Result<Option<fb::ActivationFunctionType>, planus::Error>,
    /// The operator's options with a fused activation (`None`: the operator has none, and a
    /// layer with a fused activation cannot be written as it).
    pub options: Option<fn(fb::ActivationFunctionType) -> fb::BuiltinOptions>,
}

/// The element-wise binary kinds TFLite has.
pub(crate) const BINARY: &[BinaryCode] = &[
    BinaryCode {
        kind: BinaryKind::Add,
        code: fb::BuiltinOperator::Add,
        versions: [2, 3],
        read_activation: |o| match o {
            Some(fb::BuiltinOptionsRef::AddOptions(o)) => o.fused_activation_function().map(Some),
            _ => Ok(None),
        },
        // int16 ADD with general (not power-of-two) scales, as the 16x8 converter writes it.
        options: Some(|a| {
            fb::BuiltinOptions::AddOptions(Box::new(fb::AddOptions {
                fused_activation_function: a,
                pot_scale_int16: false,
            }))
        }),
    },
    BinaryCode {
        kind: BinaryKind::Sub,
        code: fb::BuiltinOperator::Sub,
        versions: [2, 3],
        read_activation: |o| match o {
            Some(fb::BuiltinOptionsRef::SubOptions(o)) => o.fused_activation_function().map(Some),
            _ => Ok(None),
        },
        options: Some(|a| {
            fb::BuiltinOptions::SubOptions(Box::new(fb::SubOptions {
                fused_activation_function: a,
                pot_scale_int16: false,
            }))
        }),
    },
    BinaryCode {
        kind: BinaryKind::Mul,
        code: fb::BuiltinOperator::Mul,
        versions: [2, 4],
        read_activation: |o| match o {
            Some(fb::BuiltinOptionsRef::MulOptions(o)) => o.fused_activation_function().map(Some),
            _ => Ok(None),
        },
        options: Some(|a| fb::BuiltinOptions::MulOptions(Box::new(fb::MulOptions { fused_activation_function: a }))),
    },
    BinaryCode {
        kind: BinaryKind::Div,
        code: fb::BuiltinOperator::Div,
        versions: [1, 1],
        read_activation: |o| match o {
            Some(fb::BuiltinOptionsRef::DivOptions(o)) => o.fused_activation_function().map(Some),
            _ => Ok(None),
        },
        options: Some(|a| fb::BuiltinOptions::DivOptions(Box::new(fb::DivOptions { fused_activation_function: a }))),
    },
    BinaryCode {
        kind: BinaryKind::Pow,
        code: fb::BuiltinOperator::Pow,
        versions: [1, 1],
        read_activation: |_| Ok(None),
        options: None,
    },
    BinaryCode {
        kind: BinaryKind::Maximum,
        code: fb::BuiltinOperator::Maximum,
        versions: [2, 4],
        read_activation: |_| Ok(None),
        options: None,
    },
    BinaryCode {
        kind: BinaryKind::Minimum,
        code: fb::BuiltinOperator::Minimum,
        versions: [2, 4],
        read_activation: |_| Ok(None),
        options: None,
    },
    BinaryCode {
        kind: BinaryKind::Prelu,
        code: fb::BuiltinOperator::Prelu,
        versions: [1, 1],
        read_activation: |_| Ok(None),
        options: None,
    },
];

/// One element-wise unary kind in TFLite.
pub(crate) struct UnaryCode {
    /// The IR kind (LEAKY_RELU's alpha is read from the options by [`unary_in`]).
    pub kind: UnaryKind,
    /// TFLite's builtin operator.
    pub code: fb::BuiltinOperator,
    /// Operator version for 8-bit operands and for wider (16x8) ones.
    pub versions: [i32; 2],
}

/// The element-wise unary kinds TFLite has.
pub(crate) const UNARY: &[UnaryCode] = &[
    UnaryCode { kind: UnaryKind::Logistic, code: fb::BuiltinOperator::Logistic, versions: [2, 3] },
    UnaryCode { kind: UnaryKind::Tanh, code: fb::BuiltinOperator::Tanh, versions: [2, 3] },
    UnaryCode { kind: UnaryKind::HardSwish, code: fb::BuiltinOperator::HardSwish, versions: [1, 1] },
    UnaryCode { kind: UnaryKind::LeakyRelu { alpha: 0.0 }, code: fb::BuiltinOperator::LeakyRelu, versions: [2, 2] },
    UnaryCode { kind: UnaryKind::Relu, code: fb::BuiltinOperator::Relu, versions: [2, 3] },
    UnaryCode { kind: UnaryKind::Relu6, code: fb::BuiltinOperator::Relu6, versions: [2, 2] },
    UnaryCode { kind: UnaryKind::ReluN1To1, code: fb::BuiltinOperator::ReluN1To1, versions: [2, 2] },
    UnaryCode { kind: UnaryKind::Sqrt, code: fb::BuiltinOperator::Sqrt, versions: [1, 1] },
    UnaryCode { kind: UnaryKind::Rsqrt, code: fb::BuiltinOperator::Rsqrt, versions: [1, 1] },
    UnaryCode { kind: UnaryKind::Log, code: fb::BuiltinOperator::Log, versions: [1, 1] },
    UnaryCode { kind: UnaryKind::Neg, code: fb::BuiltinOperator::Neg, versions: [2, 2] },
    UnaryCode { kind: UnaryKind::Square, code: fb::BuiltinOperator::Square, versions: [1, 1] },
];

/// The unary kind of a TFLite operator with its options (LEAKY_RELU's alpha), if it is one.
pub(crate) fn unary_in(
    code: fb::BuiltinOperator,
    options: Option<fb::BuiltinOptionsRef<'_>>,
) -> Option<Result<UnaryKind, planus::Error>> {
    let row = UNARY.iter().find(|r| r.code == code)?;
    Some(match (row.kind, options) {
        (UnaryKind::LeakyRelu { .. }, Some(fb::BuiltinOptionsRef::LeakyReluOptions(o))) => {
            o.alpha().map(|alpha| UnaryKind::LeakyRelu { alpha })
        }
        (UnaryKind::LeakyRelu { .. }, _) => Ok(UnaryKind::LeakyRelu { alpha: 0.0 }),
        (k, _) => Ok(k),
    })
}

/// TFLite's row of a unary kind and the operator's options, if TFLite has the kind (it has
/// no HARD_SIGMOID or SILU; its GELU is not written yet).
pub(crate) fn unary_out(kind: UnaryKind) -> Option<(&'static UnaryCode, Option<fb::BuiltinOptions>)> {
    let row = UNARY.iter().find(|r| std::mem::discriminant(&r.kind) == std::mem::discriminant(&kind))?;
    let options = match kind {
        UnaryKind::LeakyRelu { alpha } => {
            Some(fb::BuiltinOptions::LeakyReluOptions(Box::new(fb::LeakyReluOptions { alpha })))
        }
        UnaryKind::Logistic
        | UnaryKind::Tanh
        | UnaryKind::HardSwish
        | UnaryKind::Relu
        | UnaryKind::Relu6
        | UnaryKind::ReluN1To1
        | UnaryKind::Sqrt
        | UnaryKind::Rsqrt
        | UnaryKind::Log
        | UnaryKind::Neg
        | UnaryKind::Square
        | UnaryKind::HardSigmoid { .. }
        | UnaryKind::Gelu
        | UnaryKind::GeluTanh
        | UnaryKind::Silu => None,
    };
    Some((row, options))
}

/// The TFLite row of an IR binary kind, if TFLite has it.
pub(crate) fn binary_out(kind: BinaryKind) -> Option<&'static BinaryCode> {
    BINARY.iter().find(|r| r.kind == kind)
}

/// The row of a TFLite builtin operator, if it is an element-wise binary kind.
pub(crate) fn binary_in(code: fb::BuiltinOperator) -> Option<&'static BinaryCode> {
    BINARY.iter().find(|r| r.code == code)
}

/// Pooling kinds and TFLite's operators, with the operator version for 8-bit and wider
/// operands.
const POOL: [(PoolKind, fb::BuiltinOperator, [i32; 2]); 2] = [
    (PoolKind::Max, fb::BuiltinOperator::MaxPool2d, [2, 3]),
    (PoolKind::Avg, fb::BuiltinOperator::AveragePool2d, [2, 3]),
];

/// A table of IR kinds, TFLite operators and their versions (8-bit, wider operands).
type KindTable<K> = [(K, fb::BuiltinOperator, [i32; 2])];

fn kind_in<K: Copy>(table: &KindTable<K>, code: fb::BuiltinOperator) -> Option<K> {
    table.iter().find(|(_, c, _)| *c == code).map(|(k, _, _)| *k)
}

fn kind_out<K: PartialEq>(table: &KindTable<K>, kind: K) -> Option<(fb::BuiltinOperator, [i32; 2])> {
    table.iter().find(|(k, _, _)| *k == kind).map(|(_, c, v)| (*c, *v))
}

/// The pooling kind of a TFLite operator, if it is a pooling.
pub(crate) fn pool_in(code: fb::BuiltinOperator) -> Option<PoolKind> {
    kind_in(&POOL, code)
}

/// TFLite's operator and its versions for a pooling kind.
pub(crate) fn pool_out(kind: PoolKind) -> Option<(fb::BuiltinOperator, [i32; 2])> {
    kind_out(&POOL, kind)
}

/// Resize kinds and TFLite's operators, with the operator version for 8-bit and wider
/// operands (the converter writes 3 at every width: half-pixel centres need it).
const RESIZE: [(ResizeKind, fb::BuiltinOperator, [i32; 2]); 2] = [
    (ResizeKind::Bilinear, fb::BuiltinOperator::ResizeBilinear, [3, 3]),
    (ResizeKind::Nearest, fb::BuiltinOperator::ResizeNearestNeighbor, [3, 3]),
];

/// The resize kind of a TFLite operator, if it is one.
pub(crate) fn resize_in(code: fb::BuiltinOperator) -> Option<ResizeKind> {
    kind_in(&RESIZE, code)
}

/// TFLite's operator and its versions for a resize kind.
pub(crate) fn resize_out(kind: ResizeKind) -> (fb::BuiltinOperator, [i32; 2]) {
    kind_out(&RESIZE, kind).expect("every ResizeKind has a row in import::tflite::codes::RESIZE")
}

/// Conversions and TFLite's operators, with the operator version for 8-bit and wider
/// operands.
const CONVERT: [(Convert, fb::BuiltinOperator, [i32; 2]); 2] = [
    (Convert::Quantize, fb::BuiltinOperator::Quantize, [2, 3]),
    (Convert::Dequantize, fb::BuiltinOperator::Dequantize, [2, 4]),
];

/// The conversion of a TFLite operator, if it is one.
pub(crate) fn convert_in(code: fb::BuiltinOperator) -> Option<Convert> {
    kind_in(&CONVERT, code)
}

/// TFLite's operator and its versions for a conversion.
pub(crate) fn convert_out(kind: Convert) -> Option<(fb::BuiltinOperator, [i32; 2])> {
    kind_out(&CONVERT, kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_schemas() {
        assert_eq!(builtin_name(fb::BuiltinOperator::ExpandDims as i32), "EXPAND_DIMS");
        assert_eq!(builtin_name(fb::BuiltinOperator::Conv2d as i32), "CONV_2D");
        assert_eq!(builtin_name(fb::BuiltinOperator::ReluN1To1 as i32), "RELU_N1_TO_1");
        assert_eq!(builtin_name(9999), "builtin code 9999");
        assert_eq!(tensor_type_name(fb::TensorType::Float16 as i32), "FLOAT16");
        assert_eq!(activation_name(fb::ActivationFunctionType::Tanh as i32), "TANH");
    }

    #[test]
    fn every_activation_round_trips() {
        for a in Activation::ALL {
            assert_eq!(activation_in(activation_out(a)), Some(a));
        }
    }

    #[test]
    fn pool_and_convert_kinds_round_trip() {
        for k in [PoolKind::Max, PoolKind::Avg] {
            assert_eq!(pool_out(k).and_then(|(c, _)| pool_in(c)), Some(k));
        }
        for k in [Convert::Quantize, Convert::Dequantize] {
            assert_eq!(convert_out(k).and_then(|(c, _)| convert_in(c)), Some(k));
        }
        for k in [ResizeKind::Bilinear, ResizeKind::Nearest] {
            assert_eq!(resize_in(resize_out(k).0), Some(k));
        }
    }

    #[test]
    fn every_binary_kind_has_one_tflite_row() {
        for r in crate::ops::binary::TABLE {
            let c = binary_out(r.kind).expect("a row");
            assert_eq!(binary_in(c.code).map(|c| c.kind), Some(r.kind));
        }
    }

    #[test]
    fn every_unary_kind_round_trips() {
        for r in crate::ops::unary::TABLE {
            let k = match r.kind {
                UnaryKind::LeakyRelu { .. } => UnaryKind::LeakyRelu { alpha: 0.25 },
                k => k,
            };
            let Some((c, _)) = unary_out(k) else {
                // ONNX's HardSigmoid and SiLU have no TFLite operator; TFLite's GELU is not
                // read or written yet (issue 19).
                assert!(
                    matches!(
                        k,
                        UnaryKind::HardSigmoid { .. } | UnaryKind::Silu | UnaryKind::Gelu | UnaryKind::GeluTanh
                    ),
                    "{k:?} has no TFLite row"
                );
                continue;
            };
            let back = unary_in(c.code, None).expect("a row").expect("options");
            assert_eq!(std::mem::discriminant(&back), std::mem::discriminant(&k));
        }
    }
}
