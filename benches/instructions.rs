//! Instructions per event, counted by callgrind, at a given configuration size: the cost of
//! the work itself, without the cache misses that make wall-clock time at 100k interfaces a
//! measure of the memory system as much as of the core. Run through `benches/instructions.sh`,
//! which compares 1k with 100k in one run.
//!
//! Usage: `instructions <interfaces> <rounds>`; callgrind counts only inside `measured_churn`.

use nsagent_core::{Backend, Core, CoreConfig, Event, Item, Timestamp};
use nsagent_sim::{run_until_idle, SimKernel};
use serde_json::json;

const CHANGES: usize = 1_000;

fn interface(i: usize, mtu: u32) -> Item {
    let v = json!({
        "name": format!("e{i}"), "type": "VETH", "enabled": true, "mtu": mtu,
        "ip_addresses": [format!("10.{}.{}.{}/8", (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff)],
        "veth": {"peer_if_name": format!("e{}", i ^ 1)},
    });
    Item::decode(&format!("config/linux/interfaces/v2/interface/e{i}"), &v).expect("valid")
}

/// Changes the MTU of `CHANGES` interfaces spread over the configuration, applies the
/// commands, and returns the number of events handled.
#[inline(never)]
fn measured_churn(
    core: &mut Core,
    kernel: &mut SimKernel,
    items: &[[Item; 2]],
    current: &mut [usize],
    round: usize,
    seq: &mut u64,
) -> u64 {
    let stride = items.len() / CHANGES;
    let mut events = 0;
    for c in 0..CHANGES {
        let i = c * stride + round % stride.max(1);
        current[i] ^= 1;
        *seq += 1;
        core.handle(
            Timestamp(0),
            Event::Put {
                seq: *seq,
                item: items[i][current[i]].clone(),
            },
        );
        events += 1;
    }
    events + run_until_idle(core, kernel as &mut dyn Backend, Timestamp(0)) as u64
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1_000);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    if n < CHANGES || !n.is_multiple_of(2) {
        eprintln!("interfaces must be an even number of at least {CHANGES}");
        std::process::exit(2);
    }
    let items: Vec<[Item; 2]> = (0..n)
        .map(|i| [interface(i, 1500), interface(i, 1400)])
        .collect();
    let mut current = vec![0usize; n];
    let mut core = Core::new(CoreConfig::default());
    let mut kernel = SimKernel::default();
    let mut seq = 0;
    for (i, variants) in items.iter().enumerate() {
        seq += 1;
        core.handle(
            Timestamp(0),
            Event::Put {
                seq,
                item: variants[current[i]].clone(),
            },
        );
    }
    run_until_idle(&mut core, &mut kernel as &mut dyn Backend, Timestamp(0));
    let mut events = 0;
    for round in 0..rounds {
        events += measured_churn(
            &mut core,
            &mut kernel,
            &items,
            &mut current,
            round,
            &mut seq,
        );
    }
    println!("events {events}");
}
