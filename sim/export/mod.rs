//! Exporters: the reverse of [`crate::import`], an IR graph turned into the bytes of another
//! project's file format. Exporters do no IO (the CLI writes the bytes atomically) and never
//! change the graph's arithmetic: a graph written and read back executes bit-identically.

pub mod tflite;
