//! The server-side request forgery guard: which addresses a delivery may reach.
//!
//! [`blocked`] names why an address is refused (private, loopback, link-local — which holds the cloud
//! metadata services' 169.254.169.254 and 169.254.170.2 —, unique-local — AWS's IPv6 metadata fd00:ec2::254
//! —, CGNAT — Alibaba's 100.100.100.200 —, multicast, unspecified, reserved, documentation, benchmarking);
//! an IPv6 address that carries an IPv4 one (IPv4-mapped, IPv4-compatible, NAT64 64:ff9b::/96, 6to4
//! 2002::/16) is judged by the IPv4 address it reaches. The operator's [`AllowList`]
//! (`WEBHOOK_ALLOWED_CIDRS`) overrides a refusal. [`GuardedResolver`] applies both to every name the HTTP
//! client resolves, so the connector only ever sees checked addresses; literal addresses in URLs never reach
//! a resolver and are checked by [`check_host`].

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;

/// A network: an address and a prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix_matches(u32::from(net).into(), u32::from(ip).into(), 32, self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => prefix_matches(u128::from(net), u128::from(ip), 128, self.prefix),
            _ => false,
        }
    }
}

fn prefix_matches(net: u128, ip: u128, bits: u8, prefix: u8) -> bool {
    if prefix == 0 {
        return true;
    }
    let shift = u32::from(bits - prefix);
    (net >> shift) == (ip >> shift)
}

impl FromStr for Cidr {
    type Err = String;

    /// `a.b.c.d/n`, `x:y::/n`, or a bare address (one host).
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let raw = raw.trim();
        let (addr, prefix) = match raw.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (raw, None),
        };
        let addr: IpAddr =
            addr.trim_start_matches('[').trim_end_matches(']').parse().map_err(|_| format!("{raw:?} is not a CIDR"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{raw:?}: the prefix must be 0 to {max}"))?,
        };
        Ok(Self { addr, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// `WEBHOOK_ALLOWED_CIDRS`: networks a delivery may reach even though [`blocked`] refuses them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowList(Vec<Cidr>);

impl AllowList {
    pub fn new(cidrs: Vec<Cidr>) -> Self {
        Self(cidrs)
    }

    /// Whether a network of the list holds `ip` (an IPv4-mapped IPv6 address also by its IPv4 form).
    pub fn allows(&self, ip: IpAddr) -> bool {
        let mapped = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4),
            IpAddr::V4(_) => None,
        };
        self.0.iter().any(|c| c.contains(ip) || mapped.is_some_and(|m| c.contains(m)))
    }

    /// Why a delivery may not reach `ip`, or `None` when it may.
    pub fn refusal(&self, ip: IpAddr) -> Option<&'static str> {
        blocked(ip).filter(|_| !self.allows(ip))
    }
}

impl FromStr for AllowList {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        raw.split(',').map(str::trim).filter(|s| !s.is_empty()).map(Cidr::from_str).collect::<Result<_, _>>().map(Self)
    }
}

const V4_BLOCKED: &[([u8; 4], u8, &str)] = &[
    ([0, 0, 0, 0], 8, "unspecified"),
    ([10, 0, 0, 0], 8, "private"),
    ([100, 64, 0, 0], 10, "carrier-grade NAT"),
    ([127, 0, 0, 0], 8, "loopback"),
    ([169, 254, 0, 0], 16, "link-local (cloud metadata)"),
    ([172, 16, 0, 0], 12, "private"),
    ([192, 0, 0, 0], 24, "IETF protocol assignments"),
    ([192, 0, 2, 0], 24, "documentation"),
    ([192, 88, 99, 0], 24, "6to4 relay anycast"),
    ([192, 168, 0, 0], 16, "private"),
    ([198, 18, 0, 0], 15, "benchmarking"),
    ([198, 51, 100, 0], 24, "documentation"),
    ([203, 0, 113, 0], 24, "documentation"),
    ([224, 0, 0, 0], 4, "multicast"),
    ([240, 0, 0, 0], 4, "reserved"),
];

const V6_BLOCKED: &[(u128, u8, &str)] = &[
    (0, 128, "unspecified"),
    (1, 128, "loopback"),
    (0x0100_0000_0000_0000_0000_0000_0000_0000, 64, "discard-only"),
    (0x0064_ff9b_0001_0000_0000_0000_0000_0000, 48, "local-use NAT64"),
    (0x2001_0000_0000_0000_0000_0000_0000_0000, 32, "Teredo"),
    (0x2001_0db8_0000_0000_0000_0000_0000_0000, 32, "documentation"),
    (0xfc00_0000_0000_0000_0000_0000_0000_0000, 7, "unique-local (cloud metadata)"),
    (0xfe80_0000_0000_0000_0000_0000_0000_0000, 10, "link-local"),
    (0xfec0_0000_0000_0000_0000_0000_0000_0000, 10, "site-local"),
    (0xff00_0000_0000_0000_0000_0000_0000_0000, 8, "multicast"),
];

/// Why no delivery may reach `ip` (whatever the allow-list says is decided by [`AllowList::refusal`]).
pub fn blocked(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => blocked_v4(v4),
        IpAddr::V6(v6) => blocked_v6(v6),
    }
}

fn blocked_v4(ip: Ipv4Addr) -> Option<&'static str> {
    if ip.is_broadcast() {
        return Some("broadcast");
    }
    let bits = u32::from(ip);
    V4_BLOCKED
        .iter()
        .find(|(net, prefix, _)| prefix_matches(u32::from(Ipv4Addr::from(*net)).into(), bits.into(), 32, *prefix))
        .map(|(_, _, why)| *why)
}

fn blocked_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let bits = u128::from(ip);
    if let Some(why) = V6_BLOCKED.iter().find(|(net, prefix, _)| prefix_matches(*net, bits, 128, *prefix)).map(|e| e.2)
    {
        return Some(why);
    }
    // Forms that carry an IPv4 address reach that address: judge it.
    let low32 = Ipv4Addr::from((bits & 0xffff_ffff) as u32);
    if let Some(v4) = ip.to_ipv4_mapped() {
        return blocked_v4(v4);
    }
    if bits >> 32 == 0 {
        return blocked_v4(low32).or(Some("IPv4-compatible"));
    }
    if bits >> 32 == 0x0064_ff9b_0000_0000_0000_0000 {
        return blocked_v4(low32);
    }
    if bits >> 112 == 0x2002 {
        return blocked_v4(Ipv4Addr::from(((bits >> 80) & 0xffff_ffff) as u32));
    }
    None
}

/// Why a delivery refused to connect: the host and what its address is. Travels in the HTTP client's error
/// chain (`source()`), where [`refusal_in`] finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub host: String,
    pub reason: String,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "refused to connect to {}: {}", self.host, self.reason)
    }
}

impl std::error::Error for Refused {}

/// The [`Refused`] somewhere in an error's chain.
pub fn refusal_in(error: &(dyn std::error::Error + 'static)) -> Option<Refused> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(refused) = e.downcast_ref::<Refused>() {
            return Some(refused.clone());
        }
        current = e.source();
    }
    None
}

/// A literal address in a URL's host checked as the resolver would check a name's.
pub fn check_host(allowed: &AllowList, host: &reqwest::Url) -> Result<(), Refused> {
    // The URL parser normalises every spelling of an address (`2130706433`, `0x7f.1`) to its canonical form.
    let literal = host.host_str().map(|h| h.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>());
    let Some(Ok(ip)) = literal else { return Ok(()) };
    match allowed.refusal(ip) {
        Some(why) => Err(Refused { host: ip.to_string(), reason: format!("{why} address") }),
        None => Ok(()),
    }
}

/// The HTTP client's resolver: the system's answer with every refused address removed; a name left with no
/// address fails with [`Refused`]. The connector connects to what this returns, and nothing else.
#[derive(Clone, Debug)]
pub struct GuardedResolver {
    allowed: Arc<AllowList>,
}

impl GuardedResolver {
    pub fn new(allowed: AllowList) -> Self {
        Self { allowed: Arc::new(allowed) }
    }
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allowed = self.allowed.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut refusals = Vec::new();
            let permitted: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|addr| match allowed.refusal(addr.ip()) {
                    Some(why) => {
                        refusals.push(format!("{} ({why})", addr.ip()));
                        false
                    }
                    None => true,
                })
                .collect();
            if permitted.is_empty() {
                let reason = if refusals.is_empty() {
                    "it resolves to no address".to_string()
                } else {
                    format!("it resolves to refused addresses: {}", refusals.join(", "))
                };
                return Err(Box::new(Refused { host, reason }) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(permitted.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn private_loopback_link_local_metadata_and_friends_are_blocked() {
        for (address, why) in [
            ("10.0.0.1", "private"),
            ("172.16.5.4", "private"),
            ("172.31.255.255", "private"),
            ("192.168.1.1", "private"),
            ("127.0.0.1", "loopback"),
            ("127.255.0.9", "loopback"),
            ("169.254.169.254", "link-local (cloud metadata)"),
            ("169.254.170.2", "link-local (cloud metadata)"),
            ("100.64.0.1", "carrier-grade NAT"),
            ("100.100.100.200", "carrier-grade NAT"),
            ("0.0.0.0", "unspecified"),
            ("224.0.0.251", "multicast"),
            ("255.255.255.255", "broadcast"),
            ("240.0.0.1", "reserved"),
            ("192.0.0.192", "IETF protocol assignments"),
            ("::", "unspecified"),
            ("::1", "loopback"),
            ("fe80::1", "link-local"),
            ("fd00:ec2::254", "unique-local (cloud metadata)"),
            ("fc00::1", "unique-local (cloud metadata)"),
            ("ff02::1", "multicast"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:169.254.169.254", "link-local (cloud metadata)"),
            ("::ffff:10.0.0.1", "private"),
            ("64:ff9b::a9fe:a9fe", "link-local (cloud metadata)"),
            ("2002:a00:1::", "private"),
            ("::10.0.0.1", "private"),
        ] {
            assert_eq!(blocked(ip(address)), Some(why), "{address}");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for address in [
            "93.184.216.34",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::",
        ] {
            assert_eq!(blocked(ip(address)), None, "{address}");
        }
        assert_eq!(blocked(ip("::8.8.8.8")), Some("IPv4-compatible"), "deprecated: refused whatever it carries");
    }

    #[test]
    fn the_allow_list_overrides_a_refusal_in_both_families_and_through_mapped_forms() {
        let allowed: AllowList = "127.0.0.0/8, ::1/128,10.1.2.3".parse().unwrap();
        assert_eq!(allowed.refusal(ip("127.0.0.1")), None);
        assert_eq!(allowed.refusal(ip("::ffff:127.0.0.1")), None, "mapped");
        assert_eq!(allowed.refusal(ip("::1")), None);
        assert_eq!(allowed.refusal(ip("10.1.2.3")), None);
        assert_eq!(allowed.refusal(ip("10.1.2.4")), Some("private"));
        assert_eq!(allowed.refusal(ip("169.254.169.254")), Some("link-local (cloud metadata)"));
        assert_eq!(AllowList::default().refusal(ip("127.0.0.1")), Some("loopback"));
    }

    #[test]
    fn cidrs_parse_strictly() {
        assert_eq!("0.0.0.0/0".parse::<Cidr>().unwrap().to_string(), "0.0.0.0/0");
        assert!("0.0.0.0/0".parse::<Cidr>().unwrap().contains(ip("8.8.8.8")));
        assert!(!"0.0.0.0/0".parse::<Cidr>().unwrap().contains(ip("::1")), "families never mix");
        assert_eq!("[::1]".parse::<Cidr>().unwrap().to_string(), "::1/128");
        for bad in ["10.0.0.0/33", "::/129", "localhost", "10.0.0/8", "10.0.0.0/x", ""] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
        assert!("10.0.0.0/8,nonsense".parse::<AllowList>().is_err());
        assert_eq!("".parse::<AllowList>().unwrap(), AllowList::default());
    }

    #[tokio::test]
    async fn the_resolver_drops_refused_addresses_and_fails_a_name_left_with_none() {
        use reqwest::dns::Resolve;
        let guarded = GuardedResolver::new(AllowList::default());
        let error = guarded.resolve("localhost".parse().unwrap()).await.err().unwrap();
        let refused = refusal_in(&*error).unwrap();
        assert_eq!(refused.host, "localhost");
        assert!(refused.reason.contains("loopback"), "{refused}");
        let allowing = GuardedResolver::new("127.0.0.0/8,::1/128".parse().unwrap());
        let addrs: Vec<SocketAddr> = allowing.resolve("localhost".parse().unwrap()).await.unwrap().collect();
        assert!(!addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
    }

    #[test]
    fn literal_hosts_are_checked_before_connecting() {
        let none = AllowList::default();
        for url in [
            "http://169.254.169.254/latest/meta-data",
            "http://10.0.0.1/",
            "http://[::1]:8080/",
            "http://[::ffff:7f00:1]/",
            "http://2130706433/",
            "http://0x7f.1/",
        ] {
            assert!(check_host(&none, &url.parse().unwrap()).is_err(), "{url}");
        }
        assert!(check_host(&none, &"https://93.184.216.34/".parse().unwrap()).is_ok());
        assert!(check_host(&none, &"https://example.com/".parse().unwrap()).is_ok(), "names go to the resolver");
    }
}
