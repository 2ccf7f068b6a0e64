//! The actors crate's one integration test binary: supervision and dependency monitoring,
//! run on a real actix system with fake ports.

mod monitor;
mod supervision;
