//! Captures on interfaces (`sys/net/bpf.c`'s descriptor half): each interface's tap and
//! each capture's descriptor (`dev`). The instruction set, the validator, the interpreter
//! and the record format they use are in `wire::bpf`.

pub mod dev;

pub use dev::{BpfD, BpfIf, Dir};
