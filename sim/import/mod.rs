//! Model importers: each reads a file format into the IR ([`crate::ir::Graph`]).

pub mod tflite;
