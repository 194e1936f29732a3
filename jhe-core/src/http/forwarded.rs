//! Who is asking and through which public origin: the one place that reads the reverse-proxy
//! headers (RFC 7239 `Forwarded`, and the de-facto `X-Forwarded-For` / `X-Forwarded-Proto` /
//! `X-Forwarded-Host`).
//!
//! Those headers are believed only when the connection comes from a trusted proxy
//! ([`TrustedProxies`], the `TRUSTED_PROXIES` setting; loopback by default). From anyone else
//! they are ignored: the client address is the socket's peer and the public origin comes from the
//! `Host` header (or the configured `SITE_URL`). Through a chain of proxies the client is the
//! right-most address that is not itself a trusted proxy, so a client cannot pick its own address
//! by sending the headers.

use std::net::IpAddr;

use ipnet::IpNet;
use poem::Request;
use poem::http::HeaderMap;

use crate::config::Config;

/// The proxies whose forwarding headers are believed (`TRUSTED_PROXIES`: comma- or
/// space-separated CIDRs or single addresses, e.g. `10.0.0.0/8, 192.168.1.10`; `none` trusts
/// nobody). The default trusts loopback (`127.0.0.0/8`, `::1`), where a local reverse proxy
/// connects from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl Default for TrustedProxies {
    fn default() -> Self {
        Self(
            ["127.0.0.0/8", "::1/128"]
                .iter()
                .filter_map(|n| n.parse().ok())
                .collect(),
        )
    }
}

impl TrustedProxies {
    /// Trusts no proxy: forwarding headers are always ignored.
    pub fn none() -> Self {
        Self(Vec::new())
    }

    /// Parses the `TRUSTED_PROXIES` syntax (see the type). An empty value or `none` trusts
    /// nobody.
    ///
    /// # Errors
    /// The first entry that is neither a CIDR nor an IP address, as a message.
    pub fn parse(value: &str) -> Result<Self, String> {
        let mut networks = Vec::new();
        for entry in value
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|e| !e.is_empty())
        {
            if entry.eq_ignore_ascii_case("none") {
                continue;
            }
            let network = entry
                .parse::<IpNet>()
                .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("`{entry}` is not a CIDR (10.0.0.0/8) or an IP address"))?;
            networks.push(network);
        }
        Ok(Self(networks))
    }

    /// Whether `ip` (IPv4-mapped IPv6 addresses are compared as IPv4) is a trusted proxy.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|network| network.contains(&ip))
    }

    /// The trusted networks, for logs and docs.
    pub fn networks(&self) -> &[IpNet] {
        &self.0
    }
}

/// What the proxy headers (when trusted) say about a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestOrigin {
    /// The client's address: the right-most untrusted address of the forwarding chain, or the
    /// socket's peer. `None` only for connections without an IP peer (tests, Unix sockets).
    pub client_ip: Option<IpAddr>,
    /// The public origin the client used, `scheme://host[:port]` without a trailing `/`.
    pub origin: String,
}

impl RequestOrigin {
    /// Whether the client reached the server over https.
    pub fn is_https(&self) -> bool {
        self.origin.starts_with("https://")
    }

    /// The key login throttling counts failures under for this client (`unknown` without an IP).
    pub fn client_key(&self) -> String {
        self.client_ip
            .map(|ip| ip.to_string())
            .unwrap_or_else(|| "unknown".into())
    }
}

/// The client address and public origin of `req`, believing forwarding headers only from the
/// proxies in `config.trusted_proxies`.
pub fn request_origin(req: &Request, config: &Config) -> RequestOrigin {
    let peer = req.remote_addr().as_socket_addr().map(|a| a.ip());
    resolve(peer, req.headers(), config)
}

/// [`request_origin`] from the socket's peer address and the request headers.
pub fn resolve(peer: Option<IpAddr>, headers: &HeaderMap, config: &Config) -> RequestOrigin {
    let peer = peer.map(canonical);
    let site = config.site_url.trim_end_matches('/');
    let direct = || RequestOrigin {
        client_ip: peer,
        origin: header(headers, "host")
            .and_then(|host| origin_of(default_scheme(site), host))
            .unwrap_or_else(|| site.to_string()),
    };
    let Some(peer_ip) = peer.filter(|ip| config.trusted_proxies.contains(*ip)) else {
        return direct();
    };
    let trusted = &config.trusted_proxies;
    if let Some(hop) = forwarded_hop(headers, trusted) {
        let scheme = hop.proto.as_deref().unwrap_or(default_scheme(site));
        let origin = hop
            .host
            .as_deref()
            .or_else(|| header(headers, "host"))
            .and_then(|host| origin_of(scheme, host))
            .unwrap_or_else(|| direct().origin);
        return RequestOrigin {
            client_ip: Some(hop.client.unwrap_or(peer_ip)),
            origin,
        };
    }
    let client = x_forwarded_for(headers, trusted).unwrap_or(peer_ip);
    let scheme = first_value(headers, "x-forwarded-proto").unwrap_or_else(|| default_scheme(site));
    let origin = first_value(headers, "x-forwarded-host")
        .or_else(|| header(headers, "host"))
        .and_then(|host| origin_of(scheme, host))
        .unwrap_or_else(|| direct().origin);
    RequestOrigin {
        client_ip: Some(client),
        origin,
    }
}

/// The element of a `Forwarded` chain that describes the client.
struct Hop {
    client: Option<IpAddr>,
    host: Option<String>,
    proto: Option<String>,
}

/// RFC 7239 §5: walks the `Forwarded` elements from the right (the nearest proxy) over trusted
/// proxies; the first element whose `for` is not a trusted proxy names the client, and the
/// `host`/`proto` written beside it were recorded by a trusted proxy. `None` when the header is
/// absent or malformed (then `X-Forwarded-*` is consulted).
fn forwarded_hop(headers: &HeaderMap, trusted: &TrustedProxies) -> Option<Hop> {
    let values: Vec<&str> = headers
        .get_all("forwarded")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if values.is_empty() {
        return None;
    }
    let joined = values.join(",");
    let elements: Vec<rfc7239::Forwarded<'_>> =
        rfc7239::parse(&joined).collect::<Result<_, _>>().ok()?;
    let mut chosen = None;
    for element in elements.iter().rev() {
        let ip = element.forwarded_for.as_ref().and_then(|n| n.ip()).copied();
        chosen = Some((element, ip));
        match ip {
            Some(ip) if trusted.contains(ip) => continue,
            _ => break,
        }
    }
    let (element, ip) = chosen?;
    Some(Hop {
        client: ip.map(canonical),
        host: element.host.map(str::to_string),
        proto: element.protocol.map(|p| p.to_ascii_lowercase()),
    })
}

/// `X-Forwarded-For`: the right-most address that is not a trusted proxy (an entry that is not
/// an address ends the walk: what lies left of it cannot be vouched for).
fn x_forwarded_for(headers: &HeaderMap, trusted: &TrustedProxies) -> Option<IpAddr> {
    let entries: Vec<String> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|e| e.trim().to_string())
        .filter(|e| !e.is_empty())
        .collect();
    let mut client = None;
    for entry in entries.iter().rev() {
        let Some(ip) = parse_node(entry) else {
            break;
        };
        client = Some(ip);
        if !trusted.contains(ip) {
            break;
        }
    }
    client
}

/// An address as proxies write it: `1.2.3.4`, `1.2.3.4:5678`, `::1`, `[::1]:5678`.
fn parse_node(entry: &str) -> Option<IpAddr> {
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    entry
        .parse::<std::net::SocketAddr>()
        .ok()
        .map(|a| canonical(a.ip()))
}

/// IPv4-mapped IPv6 (`::ffff:10.0.0.1`, as dual-stack sockets report) as plain IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        IpAddr::V4(_) => ip,
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// The first comma-separated value of a header (what the edge proxy wrote).
fn first_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    header(headers, name)
        .and_then(|v| v.split(',').next())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

fn default_scheme(site: &str) -> &'static str {
    if site.starts_with("https://") {
        "https"
    } else {
        "http"
    }
}

/// `scheme://host` when the scheme is http(s) and `host` is a bare authority (host and optional
/// port, no user info, path, query or fragment); `None` for anything else.
fn origin_of(scheme: &str, host: &str) -> Option<String> {
    let scheme = scheme.to_ascii_lowercase();
    if !matches!(scheme.as_str(), "http" | "https") {
        return None;
    }
    if host.contains(['/', '\\', '?', '#', '@', ' ']) {
        return None;
    }
    let url = url::Url::parse(&format!("{scheme}://{host}")).ok()?;
    url.host_str()?;
    Some(url.origin().ascii_serialization())
}

#[cfg(test)]
mod tests {
    use super::*;
    use poem::http::HeaderValue;

    fn config(trusted: &str) -> Config {
        Config {
            site_url: "https://jhe.example.org".into(),
            trusted_proxies: TrustedProxies::parse(trusted).unwrap(),
            ..Config::default()
        }
    }

    /// A request's peer and headers.
    fn request(peer: &str, headers: &[(&'static str, &str)]) -> (Option<IpAddr>, HeaderMap) {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        let addr: std::net::SocketAddr = peer.parse().unwrap();
        (Some(addr.ip()), map)
    }

    fn request_origin(req: &(Option<IpAddr>, HeaderMap), config: &Config) -> RequestOrigin {
        resolve(req.0, &req.1, config)
    }

    #[test]
    fn parses_cidrs_addresses_and_none() {
        let t = TrustedProxies::parse("10.0.0.0/8, 192.168.1.10 ::1").unwrap();
        assert!(t.contains("10.9.8.7".parse().unwrap()));
        assert!(t.contains("192.168.1.10".parse().unwrap()));
        assert!(!t.contains("192.168.1.11".parse().unwrap()));
        assert!(
            t.contains("::ffff:10.1.1.1".parse().unwrap()),
            "mapped IPv4"
        );
        assert!(TrustedProxies::parse("none").unwrap().networks().is_empty());
        assert!(TrustedProxies::parse("").unwrap().networks().is_empty());
        let e = TrustedProxies::parse("10.0.0.0/8,example.org").unwrap_err();
        assert!(e.contains("example.org"), "{e}");
        assert!(TrustedProxies::default().contains("127.0.0.1".parse().unwrap()));
        assert!(!TrustedProxies::default().contains("10.0.0.1".parse().unwrap()));
    }

    #[test]
    fn untrusted_peers_cannot_choose_address_or_origin() {
        let req = request(
            "203.0.113.9:5000",
            &[
                ("host", "jhe.example.org"),
                ("x-forwarded-for", "1.1.1.1"),
                ("x-forwarded-host", "evil.example"),
                ("x-forwarded-proto", "http"),
                ("forwarded", "for=1.1.1.1;host=evil.example;proto=http"),
            ],
        );
        let o = request_origin(&req, &config("10.0.0.0/8"));
        assert_eq!(o.client_ip, Some("203.0.113.9".parse().unwrap()));
        assert_eq!(o.origin, "https://jhe.example.org");
    }

    #[test]
    fn trusted_proxy_x_forwarded_headers() {
        let req = request(
            "10.0.0.2:5000",
            &[
                ("host", "internal:8000"),
                // Spoofed by the client, then appended by two trusted proxies.
                ("x-forwarded-for", "6.6.6.6, 198.51.100.7, 10.0.0.3"),
                ("x-forwarded-host", "jhe.example.org"),
                ("x-forwarded-proto", "https"),
            ],
        );
        let o = request_origin(&req, &config("10.0.0.0/8"));
        assert_eq!(o.client_ip, Some("198.51.100.7".parse().unwrap()));
        assert_eq!(o.origin, "https://jhe.example.org");
        assert!(o.is_https());
    }

    #[test]
    fn trusted_proxy_rfc7239_forwarded() {
        let req = request(
            "10.0.0.2:5000",
            &[
                ("host", "internal:8000"),
                (
                    "forwarded",
                    "for=6.6.6.6;host=evil.example, for=\"[2001:db8::7]:4711\";host=jhe.example.org;proto=https",
                ),
                ("forwarded", "for=10.0.0.3"),
            ],
        );
        let o = request_origin(&req, &config("10.0.0.0/8"));
        assert_eq!(o.client_ip, Some("2001:db8::7".parse().unwrap()));
        assert_eq!(o.origin, "https://jhe.example.org");
    }

    #[test]
    fn malformed_hosts_fall_back() {
        for bad in ["evil.example/path", "a@b", "x y", ""] {
            let req = request(
                "127.0.0.1:5000",
                &[("host", "localhost:8000"), ("x-forwarded-host", bad)],
            );
            let o = request_origin(&req, &config("127.0.0.1"));
            assert!(
                o.origin == "https://localhost:8000" || o.origin == "https://jhe.example.org",
                "{bad}: {}",
                o.origin
            );
        }
        let req = request(
            "127.0.0.1:5000",
            &[("host", "localhost:8000"), ("x-forwarded-proto", "gopher")],
        );
        assert_eq!(
            request_origin(&req, &config("127.0.0.1")).origin,
            "https://localhost:8000",
            "an unknown scheme is ignored, not used"
        );
    }
}
