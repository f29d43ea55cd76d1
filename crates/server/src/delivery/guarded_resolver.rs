//! The DNS resolver of the delivery client: it resolves each host once per connection and hands
//! the client only addresses the SSRF guard allows.

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::target_guard::TargetGuard;

/// A `reqwest` resolver that refuses a host if any of its addresses is refused. The client
/// connects to the addresses returned here and looks nothing up again, so what was vetted is
/// what is dialled. A refusal is the resolver's error, a [`crate::target_guard::TargetError`]
/// in the source chain of the request's error.
#[derive(Debug, Clone)]
pub(crate) struct GuardedResolver {
    guard: TargetGuard,
}

impl GuardedResolver {
    /// A resolver vetting with `guard`.
    pub(crate) fn new(guard: TargetGuard) -> Self {
        Self { guard }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = self.guard.clone();
        Box::pin(async move {
            // Port 0: the client puts the URL's port on every address.
            let addresses = guard.resolve(name.as_str(), 0).await?;
            Ok(Box::new(addresses.into_iter()) as Addrs)
        })
    }
}
