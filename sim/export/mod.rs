//! Exporters: the reverse of [`crate::import`], an IR graph turned into the bytes of another
//! project's file format. Exporters do no IO (the CLI writes the bytes atomically) and never
//! change the graph's arithmetic: a graph written and read back executes bit-identically.

pub mod onnx;
pub mod tflite;

/// Why a graph cannot be written in a format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExportError {
    /// A tensor the format cannot hold (element type, size, values out of range).
    #[error("tensor '{tensor}': {message}")]
    Tensor {
        /// The tensor's name.
        tensor: String,
        /// What is wrong.
        message: String,
    },
    /// A layer the format has no operator for.
    #[error("layer '{layer}' ({op}): {message}")]
    Layer {
        /// The layer's name.
        layer: String,
        /// The IR operator.
        op: String,
        /// What is wrong.
        message: String,
    },
}
