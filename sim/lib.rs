//! accelsim: a hardware-accelerator simulator and cost model for quantized neural networks.
//!
//! The module tree follows the data flow: [`import`] → [`ir`] → [`quant`] → [`map`] →
//! [`simulate`] → [`cost`] → [`report`], with the bit-exact [`kernels`] beside the simulator
//! and the command-line interface ([`cli`]) a thin layer on top. See `ARCHITECTURE.md`.
#![warn(missing_docs)]

pub mod accuracy;
pub mod bounded_read;
pub mod cli;
pub mod cost;
pub mod diag;
pub mod export;
pub mod hw;
pub mod import;
pub mod ir;
pub mod kernels;
pub mod map;
pub mod ops;
pub mod pipeline;
pub mod plot;
pub mod quant;
pub mod report;
pub mod schedule;
pub mod search;
pub mod simulate;
pub mod source;
pub mod sweep;
pub mod units;
