//! placeholder
#[derive(Debug, Clone)]
pub struct ApiClient;
