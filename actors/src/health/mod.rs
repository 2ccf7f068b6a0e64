//! Health of external dependencies, kept current by one supervised actor per dependency.

mod monitor;

pub use monitor::{CheckNow, DependencyMonitor, MonitorConfig};
