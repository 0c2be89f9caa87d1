//! Case bodies: `pub async fn case_name<B: Backend>()`, one per behaviour. Keep the list
//! in `conformance_tests!` sorted and in step with these.

mod admission;
mod adopt;
mod connect;
mod escaping;
mod faults;
mod happy_eyeballs;
mod haproxy;
mod haproxy_interop;
mod haproxy_tls;
mod leaks;
mod process;
mod reload;
mod serve;
mod several;
mod shared;
mod tcp;
mod tls;
mod unix;

pub use admission::*;
pub use adopt::*;
pub use connect::*;
pub use escaping::*;
pub use faults::*;
pub use happy_eyeballs::*;
pub use haproxy::*;
pub use haproxy_interop::*;
pub use haproxy_tls::*;
pub use leaks::*;
pub use process::*;
pub use reload::*;
pub use serve::*;
pub use several::*;
pub use tcp::*;
pub use tls::*;
pub use unix::*;
