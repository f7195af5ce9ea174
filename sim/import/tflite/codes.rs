//! LiteRT's names of operators, tensor types and fused activations (from the schema), and
//! TFLite's codes for accelsim's fused activations in one table with both directions side
//! by side. The op families' codes are in their modules of `ops/`.

use super::generated::tflite as fb;
use crate::ir::Activation;

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
}
