//! accelsim: a hardware-accelerator simulator and cost model for quantized neural networks.

pub mod map;
