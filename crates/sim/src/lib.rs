//! In-memory kernel (being written).
