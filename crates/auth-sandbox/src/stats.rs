//! The sandbox's counters ([`Stats`]), served as JSON at `GET /_sandbox/stats`: what a test of
//! many client processes reads to count token requests, grants, failed calls and sessions.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Value, json};

use crate::{Endpoint, Req};

/// What the sandbox has seen since it started (or since [`clear_log`](crate::Sandbox::clear_log)).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
/// use auth_sandbox::{Endpoint, Sandbox};
///
/// let sandbox = Sandbox::start().await?;
/// let stats = sandbox.stats();
/// assert_eq!(stats.requests(Endpoint::P21TokenV2), 0);
/// assert_eq!(stats.gauge("p21", "live_sessions"), 0);
/// assert_eq!(stats.to_json()["p21"]["live_sessions"], 0);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Requests by endpoint name ([`Endpoint::name`]).
    pub requests: BTreeMap<&'static str, u64>,
    /// Token requests by endpoint name and grant (`password`, `refresh_token`,
    /// `client_credentials`).
    pub grants: BTreeMap<&'static str, BTreeMap<String, u64>>,
    /// Answers by endpoint name and status.
    pub statuses: BTreeMap<&'static str, BTreeMap<u16, u64>>,
    /// Each vendor's gauges by vendor and name: P21's `live_sessions` (one per credential that
    /// holds a token) and `sessions_replaced` (token requests that closed a live session of the
    /// same credential), ByDesign's `live_refresh_tokens` (those that can still be spent).
    pub gauges: BTreeMap<&'static str, BTreeMap<&'static str, u64>>,
    /// The most requests of each endpoint (by name) in flight at once, from arrival to answer
    /// (a client's cap on concurrent token requests, seen from the server).
    pub peak_in_flight: BTreeMap<&'static str, u64>,
}

impl Stats {
    /// How many requests reached `endpoint`.
    #[must_use]
    pub fn requests(&self, endpoint: Endpoint) -> u64 {
        self.requests.get(endpoint.name()).copied().unwrap_or(0)
    }

    /// How many token requests of `grant` reached `endpoint`.
    #[must_use]
    pub fn grants(&self, endpoint: Endpoint, grant: &str) -> u64 {
        self.grants
            .get(endpoint.name())
            .and_then(|g| g.get(grant))
            .copied()
            .unwrap_or(0)
    }

    /// How many answers of `endpoint` had a status outside 200..300.
    #[must_use]
    pub fn failures(&self, endpoint: Endpoint) -> u64 {
        self.statuses.get(endpoint.name()).map_or(0, |by| {
            by.iter()
                .filter(|(status, _)| !(200..300).contains(*status))
                .map(|(_, n)| n)
                .sum()
        })
    }

    /// The most requests of `endpoint` ever in flight at once.
    #[must_use]
    pub fn peak_in_flight(&self, endpoint: Endpoint) -> u64 {
        self.peak_in_flight
            .get(endpoint.name())
            .copied()
            .unwrap_or(0)
    }

    /// The gauge `name` of `vendor` (0 if it has none of that name).
    #[must_use]
    pub fn gauge(&self, vendor: &str, name: &str) -> u64 {
        self.gauges
            .get(vendor)
            .and_then(|g| g.get(name))
            .copied()
            .unwrap_or(0)
    }

    /// The counters as JSON (what `GET /_sandbox/stats` answers): `requests`, `grants` and
    /// `statuses`, and each vendor's gauges under its name.
    #[must_use]
    pub fn to_json(&self) -> Value {
        let statuses: BTreeMap<&str, BTreeMap<String, u64>> = self
            .statuses
            .iter()
            .map(|(e, by)| (*e, by.iter().map(|(s, n)| (s.to_string(), *n)).collect()))
            .collect();
        let mut out = json!({
            "requests": self.requests,
            "grants": self.grants,
            "statuses": statuses,
            "peak_in_flight": self.peak_in_flight,
        });
        for (vendor, gauges) in &self.gauges {
            out[*vendor] = json!(gauges);
        }
        out
    }

    /// Reads what [`to_json`](Self::to_json) wrote (for tests that fetch `GET /_sandbox/stats`
    /// from a sandbox in another process). `None` if it is not that shape.
    #[must_use]
    pub fn from_json(value: &Value) -> Option<Stats> {
        let endpoint = |name: &str| Endpoint::from_name(name).map(Endpoint::name);
        let counts = |v: &Value| -> Option<BTreeMap<String, u64>> {
            v.as_object()?
                .iter()
                .map(|(k, n)| Some((k.clone(), n.as_u64()?)))
                .collect()
        };
        let requests = counts(&value["requests"])?
            .into_iter()
            .map(|(e, n)| Some((endpoint(&e)?, n)))
            .collect::<Option<_>>()?;
        let grants = value["grants"]
            .as_object()?
            .iter()
            .map(|(e, by)| Some((endpoint(e)?, counts(by)?)))
            .collect::<Option<_>>()?;
        let statuses = value["statuses"]
            .as_object()?
            .iter()
            .map(|(e, by)| {
                let by = counts(by)?
                    .into_iter()
                    .map(|(s, n)| Some((s.parse().ok()?, n)))
                    .collect::<Option<_>>()?;
                Some((endpoint(e)?, by))
            })
            .collect::<Option<_>>()?;
        let peak_in_flight = counts(value.get("peak_in_flight").unwrap_or(&json!({})))?
            .into_iter()
            .map(|(e, n)| Some((endpoint(&e)?, n)))
            .collect::<Option<_>>()?;
        let mut gauges = BTreeMap::new();
        for vendor in crate::VENDORS {
            let Some(by) = value.get(vendor.name) else {
                continue;
            };
            let by = counts(by)?;
            let names: BTreeMap<&'static str, u64> = (vendor.gauges)(&mut crate::State::default())
                .into_iter()
                .filter_map(|(name, _)| Some((name, *by.get(name)?)))
                .collect();
            gauges.insert(vendor.name, names);
        }
        Some(Stats {
            requests,
            grants,
            statuses,
            gauges,
            peak_in_flight,
        })
    }
}

/// The running counts behind [`Stats`].
#[derive(Default)]
pub(crate) struct Counters {
    requests: HashMap<Endpoint, u64>,
    grants: HashMap<Endpoint, HashMap<String, u64>>,
    statuses: HashMap<Endpoint, HashMap<u16, u64>>,
    in_flight: HashMap<Endpoint, (u64, u64)>,
}

impl Counters {
    pub(crate) fn request(&mut self, endpoint: Endpoint, req: &Req) {
        *self.requests.entry(endpoint).or_default() += 1;
        if endpoint.is_token_endpoint() {
            *self
                .grants
                .entry(endpoint)
                .or_default()
                .entry(grant(req))
                .or_default() += 1;
        }
    }

    /// A request of `endpoint` arrived; [`leave`](Self::leave) when it is answered or dropped.
    pub(crate) fn enter(&mut self, endpoint: Endpoint) {
        let (now, peak) = self.in_flight.entry(endpoint).or_default();
        *now += 1;
        *peak = (*peak).max(*now);
    }

    pub(crate) fn leave(&mut self, endpoint: Endpoint) {
        if let Some((now, _)) = self.in_flight.get_mut(&endpoint) {
            *now = now.saturating_sub(1);
        }
    }

    pub(crate) fn answer(&mut self, endpoint: Endpoint, status: u16) {
        *self
            .statuses
            .entry(endpoint)
            .or_default()
            .entry(status)
            .or_default() += 1;
    }

    pub(crate) fn requests(&self, endpoint: Endpoint) -> usize {
        usize::try_from(self.requests.get(&endpoint).copied().unwrap_or(0)).unwrap_or(usize::MAX)
    }

    pub(crate) fn snapshot(
        &self,
        gauges: BTreeMap<&'static str, BTreeMap<&'static str, u64>>,
    ) -> Stats {
        Stats {
            requests: self.requests.iter().map(|(e, n)| (e.name(), *n)).collect(),
            grants: self
                .grants
                .iter()
                .map(|(e, by)| (e.name(), by.iter().map(|(g, n)| (g.clone(), *n)).collect()))
                .collect(),
            statuses: self
                .statuses
                .iter()
                .map(|(e, by)| (e.name(), by.iter().map(|(s, n)| (*s, *n)).collect()))
                .collect(),
            gauges,
            peak_in_flight: self
                .in_flight
                .iter()
                .map(|(e, (_, peak))| (e.name(), *peak))
                .collect(),
        }
    }
}

/// The grant a token request asks for: the form's `grant_type`, a JSON body's `GrantType` or
/// `grant_type`, else `password` (user credentials in a JSON body or in headers).
fn grant(req: &Req) -> String {
    if let Some(grant) = req.form().remove("grant_type") {
        return grant;
    }
    serde_json::from_slice::<Value>(&req.body)
        .ok()
        .and_then(|body| {
            ["GrantType", "grant_type"]
                .iter()
                .find_map(|k| body.get(*k)?.as_str().map(str::to_owned))
        })
        .unwrap_or_else(|| "password".into())
}
