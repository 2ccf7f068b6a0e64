//! Implementations of the `actors` crate's ports against real infrastructure.

pub mod redis;
pub mod simplefin;
pub mod telegram;
