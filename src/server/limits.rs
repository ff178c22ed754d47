//! Per-tenant request limits, so that one customer's initial cycle cannot take the
//! server from the others: requests in progress at once, and (optionally) a request
//! rate with bursts, as a token bucket. Kept in memory, per process.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::tenants::TenantId;

pub struct TenantLimits {
    concurrency: usize,
    rate: Option<f64>,
    tenants: Mutex<HashMap<TenantId, Bucket>>,
}

struct Bucket {
    in_flight: usize,
    /// Requests that may start now (up to one second's worth).
    allowance: f64,
    refilled: Instant,
}

/// A request in progress; dropping it makes room for another.
pub struct Permit<'l> {
    limits: &'l TenantLimits,
    tenant: TenantId,
}

impl TenantLimits {
    pub fn new(concurrency: usize, rate: Option<f64>) -> TenantLimits {
        TenantLimits {
            concurrency: concurrency.max(1),
            rate: rate.filter(|r| *r > 0.0),
            tenants: Mutex::new(HashMap::new()),
        }
    }

    /// Lets a request of `tenant` start, or says how long to wait first.
    pub fn acquire(&self, tenant: &TenantId) -> Result<Permit<'_>, Duration> {
        let now = Instant::now();
        let mut tenants = self.tenants.lock().unwrap_or_else(|p| p.into_inner());
        let bucket = tenants.entry(tenant.clone()).or_insert_with(|| Bucket {
            in_flight: 0,
            allowance: self.rate.unwrap_or(0.0),
            refilled: now,
        });
        if bucket.in_flight >= self.concurrency {
            return Err(Duration::from_secs(1));
        }
        if let Some(rate) = self.rate {
            let elapsed = now.duration_since(bucket.refilled).as_secs_f64();
            bucket.allowance = (bucket.allowance + elapsed * rate).min(rate.max(1.0));
            bucket.refilled = now;
            if bucket.allowance < 1.0 {
                return Err(Duration::from_secs_f64((1.0 - bucket.allowance) / rate));
            }
            bucket.allowance -= 1.0;
        }
        bucket.in_flight += 1;
        Ok(Permit {
            limits: self,
            tenant: tenant.clone(),
        })
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut tenants = self
            .limits
            .tenants
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(bucket) = tenants.get_mut(&self.tenant) {
            bucket.in_flight = bucket.in_flight.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(name: &str) -> TenantId {
        TenantId(name.to_string())
    }

    #[test]
    fn concurrency_is_per_tenant() {
        let limits = TenantLimits::new(2, None);
        let (a, b) = (tenant("a"), tenant("b"));
        let first = limits.acquire(&a).unwrap();
        let _second = limits.acquire(&a).unwrap();
        assert!(limits.acquire(&a).is_err(), "a third at once is refused");
        assert!(limits.acquire(&b).is_ok(), "another tenant is not affected");
        drop(first);
        assert!(limits.acquire(&a).is_ok(), "room again once one ends");
    }

    #[test]
    fn the_rate_allows_a_burst_then_says_when() {
        let limits = TenantLimits::new(100, Some(5.0));
        let a = tenant("a");
        for _ in 0..5 {
            drop(limits.acquire(&a).unwrap());
        }
        let wait = limits.acquire(&a).err().expect("the sixth at once waits");
        assert!(wait > Duration::ZERO && wait <= Duration::from_millis(200));
        assert!(limits.acquire(&tenant("b")).is_ok());
    }
}
