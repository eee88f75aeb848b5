//! placeholder
#[derive(Debug)]
pub struct TargetConfig;
