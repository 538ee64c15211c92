//! Core + sim apply throughput, in events per second, at 1k, 10k and 100k configured
//! interfaces. Each iteration changes the MTU of 1,000 interfaces spread over the whole
//! configuration; every change is one intent and one command result, so 2,000 events. If the
//! cost of an event grew with the size of the configuration, the 100k figure would show it.
//!
//! Run: `cargo bench --bench apply` (figures in BENCHMARKS.md).

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use nsagent_core::{Backend, Core, CoreConfig, Event, Item, Timestamp};
use nsagent_sim::{run_until_idle, SimKernel};
use serde_json::json;

const CHANGES: usize = 1_000;

/// A configured host: `n` veth ends in pairs, each with an address, all applied.
struct Host {
    core: Core,
    kernel: SimKernel,
    seq: u64,
    n: usize,
    /// Each interface decoded with MTU 1500 and with MTU 1400: decoding is the intake's work,
    /// not the core's, so it is done before anything is timed.
    variants: Vec<[Item; 2]>,
    /// Which variant each interface has now.
    current: Vec<usize>,
}

fn name(i: usize) -> String {
    format!("e{i}")
}

fn interface(i: usize, mtu: u32) -> Item {
    let v = json!({
        "name": name(i), "type": "VETH", "enabled": true, "mtu": mtu,
        "ip_addresses": [format!("10.{}.{}.{}/8", (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff)],
        "veth": {"peer_if_name": name(i ^ 1)},
    });
    Item::decode(
        &format!("config/linux/interfaces/v2/interface/{}", name(i)),
        &v,
    )
    .expect("bench items are valid")
}

impl Host {
    fn new(n: usize) -> Host {
        let mut host = Host {
            core: Core::new(CoreConfig::default()),
            kernel: SimKernel::default(),
            seq: 0,
            n,
            variants: (0..n)
                .map(|i| [interface(i, 1500), interface(i, 1400)])
                .collect(),
            current: vec![0; n],
        };
        for i in 0..n {
            host.put(i);
        }
        run_until_idle(
            &mut host.core,
            &mut host.kernel as &mut dyn Backend,
            Timestamp(0),
        );
        host
    }

    fn put(&mut self, i: usize) {
        let item = self.variants[i][self.current[i]].clone();
        self.seq += 1;
        self.core.handle(
            Timestamp(0),
            Event::Put {
                seq: self.seq,
                item,
            },
        );
    }

    /// Changes the MTU of `CHANGES` interfaces spread over the configuration and applies the
    /// commands; returns the number of events the core handled.
    fn churn(&mut self, round: u64) -> u64 {
        let stride = self.n / CHANGES;
        let mut events = 0;
        for c in 0..CHANGES {
            let i = c * stride + (round as usize % stride.max(1));
            self.current[i] ^= 1;
            self.put(i);
            events += 1;
        }
        events += run_until_idle(
            &mut self.core,
            &mut self.kernel as &mut dyn Backend,
            Timestamp(0),
        ) as u64;
        events
    }
}

fn apply_throughput(c: &mut Criterion) {
    let mut group = c.benchmark_group("core+sim apply");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    for &n in &[1_000usize, 10_000, 100_000] {
        let mut host = Host::new(n);
        assert_eq!(
            host.kernel.dump().managed().len(),
            n,
            "every interface is in the kernel"
        );
        let probe = host.churn(0);
        assert_eq!(
            probe,
            2 * CHANGES as u64,
            "each change is one intent and one command result"
        );
        group.throughput(Throughput::Elements(probe));
        let mut round = 1;
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    let events = host.churn(round);
                    round += 1;
                    // A round that did less than it claims would flatter the figure.
                    assert_eq!(events, probe);
                }
                start.elapsed()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, apply_throughput);
criterion_main!(benches);
