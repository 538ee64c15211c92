//! Kernel backend (being written).
