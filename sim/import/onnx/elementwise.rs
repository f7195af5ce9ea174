//! The element-wise ONNX operators, one row per kind, read by the importer (op type ->
//! kind) and the exporter (kind -> op type), so a kind's ONNX spelling is written once.
//!
//! A new element-wise kind with an ONNX operator is a row here; the importer dispatches on
//! these tables and the exporter writes the binary rows' op types (its unary writer stays a
//! match over every [`UnaryKind`], since several kinds export as compositions).

use super::{attr_f, pb};
use crate::ir::{BinaryKind, UnaryKind};

/// One element-wise binary kind and its ONNX operator.
pub(crate) struct OnnxBinary {
    /// The IR kind.
    pub kind: BinaryKind,
    /// ONNX's op type.
    pub op_type: &'static str,
}

/// Every element-wise binary kind (all of them have an ONNX operator).
pub(crate) const BINARY: &[OnnxBinary] = &[
    OnnxBinary { kind: BinaryKind::Add, op_type: "Add" },
    OnnxBinary { kind: BinaryKind::Sub, op_type: "Sub" },
    OnnxBinary { kind: BinaryKind::Mul, op_type: "Mul" },
    OnnxBinary { kind: BinaryKind::Div, op_type: "Div" },
    OnnxBinary { kind: BinaryKind::Maximum, op_type: "Max" },
    OnnxBinary { kind: BinaryKind::Minimum, op_type: "Min" },
    // The slope broadcast against X (ONNX's unidirectional broadcasting).
    OnnxBinary { kind: BinaryKind::Prelu, op_type: "PRelu" },
    // On import a constant exponent is first tried as a cheaper kind (`Importer::pow`).
    OnnxBinary { kind: BinaryKind::Pow, op_type: "Pow" },
];

/// The binary kind of an ONNX op type.
pub(crate) fn binary_kind(op_type: &str) -> Option<BinaryKind> {
    BINARY.iter().find(|r| r.op_type == op_type).map(|r| r.kind)
}

/// The ONNX op type of a binary kind.
pub(crate) fn binary_op_type(kind: BinaryKind) -> &'static str {
    BINARY
        .iter()
        .find(|r| r.kind == kind)
        .map(|r| r.op_type)
        .expect("every BinaryKind has a row in onnx::elementwise::BINARY")
}

/// One ONNX operator read as an element-wise unary kind.
pub(crate) struct OnnxUnary {
    /// ONNX's op type.
    pub op_type: &'static str,
    /// The kind, with its parameters from the node's attributes (ONNX's defaults when
    /// absent).
    pub kind: fn(&pb::NodeProto) -> UnaryKind,
}

/// The ONNX operators imported as one unary layer. (Relu and Clip become a fused
/// activation when they can, `Pow` / `Reciprocal` by their exponent: their own arms.)
pub(crate) const UNARY: &[OnnxUnary] = &[
    OnnxUnary { op_type: "Sigmoid", kind: |_| UnaryKind::Logistic },
    OnnxUnary { op_type: "Tanh", kind: |_| UnaryKind::Tanh },
    OnnxUnary { op_type: "HardSwish", kind: |_| UnaryKind::HardSwish },
    OnnxUnary {
        op_type: "HardSigmoid",
        kind: |n| UnaryKind::HardSigmoid { alpha: attr_f(n, "alpha", 0.2), beta: attr_f(n, "beta", 0.5) },
    },
    OnnxUnary { op_type: "LeakyRelu", kind: |n| UnaryKind::LeakyRelu { alpha: attr_f(n, "alpha", 0.01) } },
    OnnxUnary { op_type: "Sqrt", kind: |_| UnaryKind::Sqrt },
    OnnxUnary { op_type: "Neg", kind: |_| UnaryKind::Neg },
    OnnxUnary { op_type: "Log", kind: |_| UnaryKind::Log },
];

/// The unary row of an ONNX op type.
pub(crate) fn unary(op_type: &str) -> Option<&'static OnnxUnary> {
    UNARY.iter().find(|r| r.op_type == op_type)
}

/// Whether an op type is one of these tables' (the importer's list of known operators).
pub(crate) fn is_elementwise(op_type: &str) -> bool {
    binary_kind(op_type).is_some() || unary(op_type).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::binary;

    #[test]
    fn every_binary_kind_has_one_onnx_row() {
        for r in binary::TABLE {
            assert_eq!(BINARY.iter().filter(|o| o.kind == r.kind).count(), 1, "{}", r.name);
            assert_eq!(binary_kind(binary_op_type(r.kind)), Some(r.kind));
        }
        assert_eq!(BINARY.len(), binary::TABLE.len());
    }

    #[test]
    fn op_types_are_distinct_across_tables() {
        let mut names: Vec<&str> = BINARY.iter().map(|r| r.op_type).chain(UNARY.iter().map(|r| r.op_type)).collect();
        let n = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), n);
    }

    #[test]
    fn unary_attributes_default_as_onnx_says() {
        let n = pb::NodeProto { op_type: "LeakyRelu".into(), ..Default::default() };
        assert_eq!((unary("LeakyRelu").map(|r| (r.kind)(&n))), Some(UnaryKind::LeakyRelu { alpha: 0.01 }));
        assert!(unary("Relu").is_none() && binary_kind("Relu").is_none());
    }
}
