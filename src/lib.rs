//! Umbrella package of the nsagent workspace. It exists so that the end-to-end tests in `tests/`
//! and the benchmarks in `benches/` can depend on every crate at once; it adds no code of its own.
pub use nsagent_core as core;
pub use nsagent_sim as sim;
