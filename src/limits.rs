//! Rate limits: per client address for POSTs and for public reads, per API key for POSTs. The counting is
//! governor's (GCRA, one small cell per key); this module decides who a client is and which quota applies.

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota};
use ipnet::IpNet;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A quota such as `30/min`: that many requests at once, refilled evenly over the period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rate {
    pub count: NonZeroU32,
    pub per: Duration,
}

/// A rate setting: a quota, or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RateSetting(pub Option<Rate>);

impl FromStr for RateSetting {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("off") {
            return Ok(Self(None));
        }
        let bad = || format!("'{s}' is not a rate: write e.g. 30/min, 10/s, 1000/hour or off");
        let (count, unit) = s.split_once('/').ok_or_else(bad)?;
        let count: NonZeroU32 = count.trim().parse().map_err(|_| bad())?;
        let per = match unit.trim().to_ascii_lowercase().as_str() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            "d" | "day" => Duration::from_secs(86_400),
            _ => return Err(bad()),
        };
        Ok(Self(Some(Rate { count, per })))
    }
}

impl std::fmt::Display for RateSetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            None => f.write_str("off"),
            Some(r) => {
                let unit = match r.per.as_secs() {
                    1 => "s",
                    60 => "min",
                    3600 => "hour",
                    _ => "day",
                };
                write!(f, "{}/{unit}", r.count)
            }
        }
    }
}

impl Rate {
    fn quota(self) -> Quota {
        let each = self.per / self.count.get();
        Quota::with_period(each.max(Duration::from_nanos(1)))
            .unwrap_or_else(|| Quota::per_second(self.count))
            .allow_burst(self.count)
    }
}

#[derive(clap::Args, Clone, Debug)]
pub struct LimitArgs {
    /// Open311 POSTs (reports, updates) per client address, e.g. 30/min; `off` disables. Staff sign-in has a
    /// throttle of its own.
    #[arg(long, env = "CIVIC311_RATE_LIMIT_POST", default_value = "30/min")]
    pub rate_limit_post: RateSetting,

    /// Public GETs per client address, e.g. 600/min; `off` disables.
    #[arg(long, env = "CIVIC311_RATE_LIMIT_READ", default_value = "600/min")]
    pub rate_limit_read: RateSetting,

    /// POSTs per API key, for keys without a limit of their own (`apikey create --rate-limit`); an app's
    /// key is shared by all its users, so this is much higher than the per-address limit.
    #[arg(long, env = "CIVIC311_RATE_LIMIT_KEY", default_value = "600/min")]
    pub rate_limit_key: RateSetting,

    /// Reverse proxies whose `X-Forwarded-For` is believed (addresses or CIDRs, comma-separated). Without
    /// it the client is the TCP peer, whatever the headers say.
    #[arg(long, env = "CIVIC311_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<IpNet>,
}

impl Default for LimitArgs {
    fn default() -> Self {
        let rate = |s: &str| s.parse().unwrap_or(RateSetting(None));
        Self {
            rate_limit_post: rate("30/min"),
            rate_limit_read: rate("600/min"),
            rate_limit_key: rate("600/min"),
            trusted_proxies: Vec::new(),
        }
    }
}

impl LimitArgs {
    /// Everything off: for benchmarks and tests that measure something else.
    pub fn off() -> Self {
        Self {
            rate_limit_post: RateSetting(None),
            rate_limit_read: RateSetting(None),
            rate_limit_key: RateSetting(None),
            trusted_proxies: Vec::new(),
        }
    }
}

/// Which bucket a request is counted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    Post,
    Read,
}

/// The counters of one server. Memory is one small cell per recently seen address or key; `sweep` drops
/// the cells that are full again.
pub struct RateLimits {
    post: Option<DefaultKeyedRateLimiter<IpAddr>>,
    read: Option<DefaultKeyedRateLimiter<IpAddr>>,
    key_default: Option<Rate>,
    by_key: Mutex<HashMap<(String, Rate), Arc<DefaultDirectRateLimiter>>>,
    trusted: Vec<IpNet>,
    clock: DefaultClock,
}

/// More API keys than any city issues; past it the per-key cells start again rather than grow.
const MAX_KEY_CELLS: usize = 10_000;

impl RateLimits {
    pub fn new(args: &LimitArgs) -> Self {
        let keyed = |r: RateSetting| r.0.map(|r| DefaultKeyedRateLimiter::keyed(r.quota()));
        Self {
            post: keyed(args.rate_limit_post),
            read: keyed(args.rate_limit_read),
            key_default: args.rate_limit_key.0,
            by_key: Mutex::new(HashMap::new()),
            trusted: args.trusted_proxies.clone(),
            clock: DefaultClock::default(),
        }
    }

    /// The client: the TCP peer, unless the peer is a trusted proxy; then the right-most address of
    /// `X-Forwarded-For` that is not itself a trusted proxy (the left part is whatever the client wrote).
    pub fn client(&self, peer: Option<SocketAddr>, forwarded_for: Option<&str>) -> Option<IpAddr> {
        let peer = peer?.ip();
        let trusted = |ip: &IpAddr| self.trusted.iter().any(|n| n.contains(ip));
        if !trusted(&peer) {
            return Some(peer);
        }
        let mut client = peer;
        for hop in forwarded_for
            .unwrap_or_default()
            .rsplit(',')
            .map(str::trim)
            .filter(|h| !h.is_empty())
        {
            match parse_hop(hop) {
                Some(ip) => {
                    client = ip;
                    if !trusted(&ip) {
                        break;
                    }
                }
                None => break,
            }
        }
        Some(client)
    }

    /// `Err(seconds to wait)` when the address has used its quota for this kind of request.
    pub fn check_address(&self, bucket: Bucket, addr: IpAddr) -> Result<(), u64> {
        let limiter = match bucket {
            Bucket::Post => &self.post,
            Bucket::Read => &self.read,
        };
        let Some(limiter) = limiter else {
            return Ok(());
        };
        limiter
            .check_key(&group(addr))
            .map_err(|not_until| retry_after(not_until.wait_time_from(self.clock.now())))
    }

    /// `Err(seconds to wait)` when the API key has used its quota of POSTs: its own limit when it has one,
    /// else the server's.
    pub fn check_key(&self, key_id: &str, own: Option<RateSetting>) -> Result<(), u64> {
        let Some(rate) = own.map_or(self.key_default, |r| r.0) else {
            return Ok(());
        };
        let limiter = {
            let Ok(mut cells) = self.by_key.lock() else {
                return Ok(());
            };
            if cells.len() >= MAX_KEY_CELLS {
                cells.clear();
            }
            cells
                .entry((key_id.to_string(), rate))
                .or_insert_with(|| Arc::new(DefaultDirectRateLimiter::direct(rate.quota())))
                .clone()
        };
        limiter
            .check()
            .map_err(|not_until| retry_after(not_until.wait_time_from(self.clock.now())))
    }

    /// Forgets addresses whose quota is whole again; run every minute or so.
    pub fn sweep(&self) {
        for limiter in [&self.post, &self.read].into_iter().flatten() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

/// An IPv6 client controls at least a /64, so all of it is one client.
fn group(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V4(_) => addr,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// `X-Forwarded-For` hops are addresses, sometimes with a port (`1.2.3.4:5678`, `[::1]:80`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

fn retry_after(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(post: &str, proxies: &[&str]) -> LimitArgs {
        LimitArgs {
            rate_limit_post: post.parse().unwrap(),
            rate_limit_read: "off".parse().unwrap(),
            rate_limit_key: "2/min".parse().unwrap(),
            trusted_proxies: proxies.iter().map(|p| p.parse().unwrap()).collect(),
        }
    }

    #[test]
    fn rates_parse_and_print() {
        let r: RateSetting = "30/min".parse().unwrap();
        assert_eq!(r.0.unwrap().count.get(), 30);
        assert_eq!(r.0.unwrap().per, Duration::from_secs(60));
        assert_eq!(r.to_string(), "30/min");
        assert_eq!("OFF".parse::<RateSetting>().unwrap(), RateSetting(None));
        assert_eq!("10 / s".parse::<RateSetting>().unwrap().to_string(), "10/s");
        for bad in ["", "0/min", "30", "30/fortnight", "-1/s", "x/min"] {
            assert!(bad.parse::<RateSetting>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_quota_is_a_burst_then_a_steady_rate() {
        let limits = RateLimits::new(&args("3/min", &[]));
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..3 {
            assert_eq!(limits.check_address(Bucket::Post, a), Ok(()));
        }
        let wait = limits.check_address(Bucket::Post, a).unwrap_err();
        assert!((1..=20).contains(&wait), "{wait}");
        // Another address, and reads (off here), are not affected.
        assert_eq!(
            limits.check_address(Bucket::Post, "192.0.2.2".parse().unwrap()),
            Ok(())
        );
        assert_eq!(limits.check_address(Bucket::Read, a), Ok(()));
    }

    #[test]
    fn one_ipv6_client_is_its_whole_64() {
        let limits = RateLimits::new(&args("1/min", &[]));
        assert_eq!(
            limits.check_address(Bucket::Post, "2001:db8:1:2::1".parse().unwrap()),
            Ok(())
        );
        assert!(limits
            .check_address(Bucket::Post, "2001:db8:1:2::ffff".parse().unwrap())
            .is_err());
        assert_eq!(
            limits.check_address(Bucket::Post, "2001:db8:1:3::1".parse().unwrap()),
            Ok(())
        );
    }

    #[test]
    fn keys_have_the_default_or_their_own_rate() {
        let limits = RateLimits::new(&args("off", &[]));
        assert_eq!(limits.check_key("a", None), Ok(()));
        assert_eq!(limits.check_key("a", None), Ok(()));
        assert!(limits.check_key("a", None).is_err());
        let own = Some("5/min".parse().unwrap());
        for _ in 0..5 {
            assert_eq!(limits.check_key("b", own), Ok(()));
        }
        assert!(limits.check_key("b", own).is_err());
        let off = Some("off".parse().unwrap());
        for _ in 0..100 {
            assert_eq!(limits.check_key("c", off), Ok(()));
        }
    }

    #[test]
    fn forwarded_for_is_read_only_from_a_trusted_proxy_and_from_the_right() {
        let peer = |s: &str| Some(SocketAddr::new(s.parse().unwrap(), 443));
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        let direct = RateLimits::new(&args("off", &[]));
        assert_eq!(
            direct.client(peer("198.51.100.7"), Some("203.0.113.9")),
            ip("198.51.100.7")
        );
        let proxied = RateLimits::new(&args("off", &["10.0.0.0/8", "127.0.0.1/32"]));
        // The client may write anything on the left; the proxy appends what it saw.
        assert_eq!(
            proxied.client(peer("10.0.0.2"), Some("6.6.6.6, 203.0.113.9, 10.0.0.3")),
            ip("203.0.113.9")
        );
        assert_eq!(proxied.client(peer("10.0.0.2"), None), ip("10.0.0.2"));
        assert_eq!(
            proxied.client(peer("10.0.0.2"), Some("garbage")),
            ip("10.0.0.2")
        );
        assert_eq!(
            proxied.client(peer("127.0.0.1"), Some("[2001:db8::1]:8080")),
            ip("2001:db8::1")
        );
        assert_eq!(
            proxied.client(peer("198.51.100.7"), Some("1.2.3.4")),
            ip("198.51.100.7")
        );
    }
}
