//! The links the agent reaches its NATS server through, found at start so that the core can
//! refuse items that would cut the agent off (`nsagent_core::BorrowPolicy`). Asked of the
//! kernel's routing table the way `ip route get` does; the core gets the answer as data.

use std::net::{IpAddr, ToSocketAddrs};

use nsagent_core::{BorrowPolicy, Netns, ProtectedLink};

/// The server addresses a NATS URL list (`nats://a:4222,nats://b:4222`) names.
pub fn nats_addresses(urls: &str) -> Result<Vec<IpAddr>, String> {
    let mut out = Vec::new();
    for url in urls.split(',').map(str::trim).filter(|u| !u.is_empty()) {
        let rest = url.split_once("://").map_or(url, |(_, r)| r);
        let host_port = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
        let host_port = host_port.split('/').next().unwrap_or(host_port);
        let with_port = if host_port.contains(':') && !host_port.ends_with(']') {
            host_port.to_string()
        } else {
            format!("{host_port}:4222")
        };
        let addrs = with_port
            .to_socket_addrs()
            .map_err(|e| format!("NATS server '{url}': cannot resolve {with_port}: {e}"))?;
        for a in addrs {
            if !out.contains(&a.ip()) {
                out.push(a.ip());
            }
        }
    }
    Ok(out)
}

/// The link and source address the default namespace's routing table picks for `server`.
fn route_to(server: IpAddr) -> Result<ProtectedLink, String> {
    let out = std::process::Command::new("ip")
        .args(["-j", "route", "get", &server.to_string()])
        .output()
        .map_err(|e| format!("ip route get {server}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "ip route get {server}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    parse_route_get(server, &out.stdout)
}

fn parse_route_get(server: IpAddr, json: &[u8]) -> Result<ProtectedLink, String> {
    let routes: Vec<serde_json::Value> = serde_json::from_slice(json)
        .map_err(|e| format!("ip route get {server}: unreadable answer: {e}"))?;
    let first = routes
        .first()
        .ok_or_else(|| format!("ip route get {server}: no route"))?;
    let dev = first["dev"]
        .as_str()
        .ok_or_else(|| format!("ip route get {server}: no device in the answer"))?;
    Ok(ProtectedLink {
        ns: Netns::Default,
        name: dev.to_string(),
        address: first["prefsrc"].as_str().and_then(|s| s.parse().ok()),
        server,
    })
}

/// The policy the daemon gives the core: the allow-list as configured, and the links to every
/// NATS server address.
pub fn borrow_policy(allow: &[String], nats: &str) -> Result<BorrowPolicy, String> {
    let mut protected = Vec::new();
    for server in nats_addresses(nats)? {
        let link = route_to(server)?;
        if !protected.contains(&link) {
            protected.push(link);
        }
    }
    Ok(BorrowPolicy {
        allow: allow.to_vec(),
        protected,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_their_servers_with_or_without_port_and_user() {
        let a =
            nats_addresses("nats://127.0.0.1:4222, nats://u:p@127.0.0.2,127.0.0.3:1").expect("ok");
        let want: Vec<IpAddr> = ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(a, want);
        let e = nats_addresses("nats://no-such-host.invalid:4222").expect_err("unresolvable");
        assert!(e.contains("no-such-host.invalid"), "{e}");
    }

    #[test]
    fn the_answer_of_ip_route_get_names_the_link_and_source() {
        let server: IpAddr = "127.0.0.1".parse().unwrap();
        let json = br#"[{"type":"local","dst":"127.0.0.1","dev":"lo","prefsrc":"127.0.0.1","flags":[],"uid":0,"cache":[]}]"#;
        let p = parse_route_get(server, json).expect("ok");
        assert_eq!((p.name.as_str(), p.address), ("lo", Some(server)));
        for (bad, why) in [
            (&b"[]"[..], "no route"),
            (b"[{}]", "no device"),
            (b"x", "unreadable"),
        ] {
            let e = parse_route_get(server, bad).expect_err("bad");
            assert!(e.contains(why), "{e}");
        }
    }

    #[test]
    fn the_loopback_server_is_reached_through_lo() {
        // Needs `ip`; every test host has it.
        let p = route_to("127.0.0.1".parse().unwrap()).expect("ip route get");
        assert_eq!(p.name, "lo");
    }
}
