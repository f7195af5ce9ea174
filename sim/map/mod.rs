//! Mapping: how a layer is laid onto an accelerator -- its normalized work ([`work`]), the
//! family's behaviour ([`family`], one module per family; [`systolic`] is SCALE-Sim's exact
//! cycle model the MAC array uses), the tiling that fits the buffers ([`tiling`]) and which
//! layers run on the fly inside another ([`fusion`]).
//!
//! Architecture invariant: mapping reads shapes and bit widths only, never tensor values.

pub mod family;
pub mod fusion;
pub mod systolic;
pub mod tiling;
pub mod work;
