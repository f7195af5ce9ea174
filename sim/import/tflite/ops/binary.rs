//! The element-wise binary kinds: [`Op::Binary`], by their rows in `BINARY` (operator,
//! versions, fused activation in the options).

use super::{corrupt, ReadCtx, WriteCtx, Written};
use crate::export::ExportError;
use crate::import::tflite::generated::tflite as fb;
use crate::import::tflite::LayerErr;
use crate::ir::{Activation, BinaryKind, Layer, Op};

pub(super) fn read(cx: &mut ReadCtx<'_, '_>) -> Result<Layer, LayerErr> {
    let Some(row) = of_code(cx.code) else { return Err(LayerErr::Unsupported(String::new())) };
    let mut act = Activation::None;
    if let Some(a) = (row.read_activation)(cx.opts).map_err(corrupt(cx.imp))? {
        act = cx.act(a)?;
    }
    cx.layer(Op::Binary(row.kind), vec![cx.input(0)?, cx.input(1)?], act)
}

pub(super) fn write(cx: &mut WriteCtx<'_>, kind: BinaryKind) -> Result<Written, ExportError> {
    let row = of_kind(kind)
        .ok_or_else(|| cx.err(format!("TFLite has no operator for the element-wise {}", cx.l.op.name())))?;
    // A kind without options carries no fused activation (checked by the exporter).
    let options = row.options.map(|options| options(cx.act));
    Ok(Written { code: row.code, version: cx.version(row.versions), options })
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
    BinaryCode {
        kind: BinaryKind::SquaredDifference,
        code: fb::BuiltinOperator::SquaredDifference,
        versions: [1, 2],
        read_activation: |_| Ok(None),
        options: None,
    },
];

/// The TFLite row of an IR binary kind, if TFLite has it.
pub(crate) fn of_kind(kind: BinaryKind) -> Option<&'static BinaryCode> {
    BINARY.iter().find(|r| r.kind == kind)
}

/// The row of a TFLite builtin operator, if it is an element-wise binary kind.
pub(crate) fn of_code(code: fb::BuiltinOperator) -> Option<&'static BinaryCode> {
    BINARY.iter().find(|r| r.code == code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_binary_kind_has_one_tflite_row() {
        for r in crate::ops::binary::TABLE {
            let c = of_kind(r.kind).expect("a row");
            assert_eq!(of_code(c.code).map(|c| c.kind), Some(r.kind));
        }
    }
}
