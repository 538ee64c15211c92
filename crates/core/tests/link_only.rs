//! `link_only` as vpp-agent means it: the agent manages the link, someone else its addresses,
//! and the addresses the item lists are a dependency of its routes and neighbours.

mod common;

use common::*;
use nsagent_core::*;
use serde_json::json;

const ROUTE: &str = "config/linux/l3/v2/route/10.9.0.0/24/d";
const ARP: &str = "config/linux/l3/v2/arp/d/10.1.0.7";

fn observed(addrs: &[&str]) -> Event {
    dummy_seen("d", true, addrs)
}

/// A link-only dummy listing 10.1.0.1/24, a route through 10.1.0.254 and an ARP entry on it.
fn link_only_with_dependents() -> Harness {
    let mut d = Harness::new();
    d.put(
        &iface_key("d"),
        json!({"name": "d", "type": "DUMMY", "enabled": true, "link_only": true,
               "ip_addresses": ["10.1.0.1/24"]}),
    );
    d.put(
        ROUTE,
        json!({"outgoing_interface": "d", "dst_network": "10.9.0.0/24", "gw_addr": "10.1.0.254"}),
    );
    d.put(
        ARP,
        json!({"interface": "d", "ip_address": "10.1.0.7", "hw_address": "02:00:00:00:01:07"}),
    );
    d
}

#[test]
fn routes_and_neighbours_wait_for_the_addresses_someone_else_adds() {
    let mut d = link_only_with_dependents();
    let ops = d.settle();
    assert!(
        ops.iter().all(|op| !matches!(op, Op::AddAddress { .. })),
        "the agent adds no address to a link-only link: {ops:?}"
    );
    assert!(is_applied(&d.state(&iface_key("d"))));
    let why = "address 10.1.0.1/24 of link-only interface 'd' is not on its link yet";
    assert_eq!(reasons(&d.state(ROUTE)), vec![why.to_string()]);
    assert_eq!(reasons(&d.state(ARP)), vec![why.to_string()]);

    // A DHCP client, say, puts the address on: the kernel tells, and both go in.
    d.event(observed(&["10.1.0.1/24"]));
    let ops = d.settle();
    assert!(
        ops.iter().any(|op| matches!(op, Op::AddRoute { .. })),
        "{ops:?}"
    );
    assert!(
        ops.iter().any(|op| matches!(op, Op::SetNeighbour { .. })),
        "{ops:?}"
    );
    assert!(is_applied(&d.state(ROUTE)), "{}", d.state(ROUTE));
    assert!(is_applied(&d.state(ARP)), "{}", d.state(ARP));
}

#[test]
fn an_address_of_someone_elses_is_neither_removed_nor_enough() {
    let mut d = link_only_with_dependents();
    d.settle();
    // Another address, in the gateway's subnet, but not the one listed.
    d.event(observed(&["10.1.0.2/24"]));
    let ops = d.settle();
    assert!(
        ops.iter().all(|op| !matches!(op, Op::DelAddress { .. })),
        "{ops:?}"
    );
    assert_eq!(
        reasons(&d.state(ROUTE)),
        vec!["address 10.1.0.1/24 of link-only interface 'd' is not on its link yet".to_string()]
    );
}

#[test]
fn a_listed_address_taken_away_takes_its_dependents_with_it() {
    let mut d = link_only_with_dependents();
    d.settle();
    d.event(observed(&["10.1.0.1/24"]));
    d.settle();
    assert!(is_applied(&d.state(ARP)));
    // The address goes: the kernel drops the route through it by itself, the neighbour stays.
    let Event::Observed(mut seen) = observed(&[]) else {
        unreachable!()
    };
    seen.namespaces[0].neighbours.push(ObservedNeighbour {
        link: "d".into(),
        ip: "10.1.0.7".parse().unwrap(),
        mac: "02:00:00:00:01:07".parse().unwrap(),
    });
    d.event(Event::Observed(seen));
    let ops = d.settle();
    assert_eq!(
        ops,
        vec![Op::DelNeighbour {
            ns: Netns::Default,
            link: "d".into(),
            ip: "10.1.0.7".parse().unwrap(),
        }],
        "the neighbour goes with the address it relied on, and the route is not put back"
    );
    assert!(matches!(d.state(ROUTE), ItemState::Pending { .. }));
    assert!(matches!(d.state(ARP), ItemState::Pending { .. }));
}

/// Seed 133 of the simulation: an interface put again as link-only, listing an address its
/// link lacks, changes nothing in the kernel, so nothing there wakes its neighbours: the item
/// change itself must.
#[test]
fn becoming_link_only_is_news_to_the_interfaces_dependents() {
    let mut d = Harness::new();
    let iface = json!({"name": "d", "type": "DUMMY", "enabled": true});
    d.put(&iface_key("d"), iface.clone());
    d.put(
        ARP,
        json!({"interface": "d", "ip_address": "10.1.0.7", "hw_address": "02:00:00:00:01:07"}),
    );
    d.settle();
    assert!(is_applied(&d.state(ARP)));
    let mut link_only = iface;
    link_only["link_only"] = json!(true);
    link_only["ip_addresses"] = json!(["10.1.0.1/24"]);
    d.put(&iface_key("d"), link_only);
    let ops = d.settle();
    assert!(
        ops.iter().any(|op| matches!(op, Op::DelNeighbour { .. })),
        "{ops:?}"
    );
    assert!(matches!(d.state(ARP), ItemState::Pending { .. }));
}
