//! TFLite's codes for accelsim's fused activations and element-wise binary kinds, one table
//! each with both directions side by side: the importer reads them and the exporter
//! (`export/tflite.rs`) writes them, so the two cannot disagree.

use super::generated::tflite as fb;
use crate::ir::{Activation, BinaryKind, Convert, PoolKind};

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
    /// The operator's options with a fused activation.
    pub options: fn(fb::ActivationFunctionType) -> fb::BuiltinOptions,
}

/// The element-wise binary kinds TFLite has.
pub(crate) const BINARY: &[BinaryCode] = &[BinaryCode {
    kind: BinaryKind::Add,
    code: fb::BuiltinOperator::Add,
    versions: [2, 3],
    read_activation: |o| match o {
        Some(fb::BuiltinOptionsRef::AddOptions(o)) => o.fused_activation_function().map(Some),
        _ => Ok(None),
    },
    // int16 ADD with general (not power-of-two) scales, as the 16x8 converter writes it.
    options: |a| {
        fb::BuiltinOptions::AddOptions(Box::new(fb::AddOptions {
            fused_activation_function: a,
            pot_scale_int16: false,
        }))
    },
}];

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
    }

    #[test]
    fn every_binary_kind_has_one_tflite_row() {
        for k in [BinaryKind::Add] {
            let r = binary_out(k).expect("a row");
            assert_eq!(binary_in(r.code).map(|r| r.kind), Some(k));
        }
    }
}
