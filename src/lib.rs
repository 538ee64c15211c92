//! The nsagent workspace's root package. It holds the end-to-end tests (`tests/`), the
//! benchmarks (`benches/`), and the deterministic simulation harness that both use: the one piece
//! of code that drives every pure crate together.
pub use nsagent_core as core;
pub use nsagent_sim as sim;

pub mod simulation;
