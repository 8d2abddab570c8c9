//! The address a request comes from. Only a peer inside a trusted proxy's
//! network may name another one, in `X-Forwarded-For`; the node reads that
//! list from the right, skipping its own proxies, so a client cannot put an
//! address of its choosing in front of the one its proxy appended.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The client's address: the peer's own, unless the peer is a trusted
/// proxy, in which case the nearest untrusted address it forwards (port 0:
/// the client's port is not known). A malformed list from a trusted proxy
/// counts as the proxy's own address: better one shared limit for what
/// comes through it than an address anyone could have written.
pub fn client_address(peer: SocketAddr, headers: &HeaderMap, trusted: &[IpNet]) -> SocketAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(&canonical(*ip)));
    if !is_trusted(&peer.ip()) {
        return peer;
    }
    let mut hops: Vec<IpAddr> = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let Ok(value) = value.to_str() else {
            return peer;
        };
        for hop in value.split(',') {
            match parse_hop(hop.trim()) {
                Some(ip) => hops.push(canonical(ip)),
                None => return peer,
            }
        }
    }
    let mut client = peer.ip();
    for hop in hops.iter().rev() {
        client = *hop;
        if !is_trusted(hop) {
            break;
        }
    }
    if client == peer.ip() {
        peer
    } else {
        SocketAddr::new(client, 0)
    }
}

/// One hop as proxies write it: an address, optionally with a port
/// (`192.0.2.1:4711`, `[2001:db8::1]:4711`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip);
    }
    hop.parse::<SocketAddr>().ok().map(|s| s.ip())
}

/// IPv4 peers on a dual-stack socket arrive as `::ffff:a.b.c.d`; networks
/// are written as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in xff {
            h.append("x-forwarded-for", v.parse().expect("header value"));
        }
        h
    }

    fn nets(s: &[&str]) -> Vec<IpNet> {
        s.iter().map(|n| n.parse().expect("network")).collect()
    }

    #[test]
    fn an_untrusted_peer_cannot_name_another_address() {
        let peer: SocketAddr = "198.51.100.7:5000".parse().expect("addr");
        let got = client_address(peer, &headers(&["10.0.0.1"]), &nets(&["127.0.0.1/32"]));
        assert_eq!(got, peer);
        let got = client_address(peer, &headers(&["10.0.0.1"]), &[]);
        assert_eq!(got, peer);
    }

    #[test]
    fn a_trusted_proxy_names_the_nearest_untrusted_hop() {
        let peer: SocketAddr = "127.0.0.1:5000".parse().expect("addr");
        let trusted = nets(&["127.0.0.1/32", "10.9.0.0/16"]);
        // The client wrote 1.2.3.4 itself; its real address was appended by
        // the proxies, which are skipped.
        let h = headers(&["1.2.3.4, 203.0.113.9", "10.9.1.1"]);
        assert_eq!(
            client_address(peer, &h, &trusted).ip(),
            "203.0.113.9".parse::<IpAddr>().expect("ip")
        );
        let h = headers(&["[2001:db8::5]:443"]);
        assert_eq!(
            client_address(peer, &h, &trusted).ip(),
            "2001:db8::5".parse::<IpAddr>().expect("ip")
        );
    }

    #[test]
    fn a_malformed_or_missing_list_counts_as_the_proxy() {
        let peer: SocketAddr = "127.0.0.1:5000".parse().expect("addr");
        let trusted = nets(&["127.0.0.1/32"]);
        assert_eq!(
            client_address(peer, &headers(&["not-an-address"]), &trusted),
            peer
        );
        assert_eq!(client_address(peer, &headers(&[]), &trusted), peer);
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:5000".parse().expect("addr");
        let got = client_address(mapped, &headers(&["203.0.113.9"]), &trusted);
        assert_eq!(got.ip(), "203.0.113.9".parse::<IpAddr>().expect("ip"));
    }
}
