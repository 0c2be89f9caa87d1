//! Case bodies: `pub async fn case_name<B: Backend>()`, one per behaviour. Keep the list
//! in `conformance_tests!` sorted and in step with these.

mod tcp;

pub use tcp::*;
