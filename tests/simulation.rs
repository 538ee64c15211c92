//! Deterministic simulation over many seeds. `SIM_SEED=<n>` runs one seed; `SIM_SEEDS=<count>`
//! sets how many run (default 500); `SIM_STEPS=<n>` sets the steps per seed (default 200);
//! `SIM_FAULTS=0` turns fault injection off.

use nsagent::simulation::{run, SimulationConfig};

fn env(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|v| {
        v.parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, got '{v}'"))
    })
}

#[test]
fn simulation_holds_every_invariant_over_many_seeds() {
    let steps = env("SIM_STEPS").unwrap_or(200) as usize;
    let seeds: Vec<u64> = match env("SIM_SEED") {
        Some(seed) => vec![seed],
        None => (1..=env("SIM_SEEDS").unwrap_or(500)).collect(),
    };
    let mut converged = 0;
    let mut commands = 0;
    for &seed in &seeds {
        let faults = env("SIM_FAULTS").is_none_or(|f| f != 0);
        let report = run(SimulationConfig {
            faults,
            ..SimulationConfig::new(seed, steps)
        })
        .unwrap_or_else(|v| panic!("{v}"));
        converged += report.convergence_checks;
        commands += report.commands;
        // The same seed must give the same trace, byte for byte.
        if seed % 25 == 1 || seeds.len() == 1 {
            let again = run(SimulationConfig::new(seed, steps)).unwrap_or_else(|v| panic!("{v}"));
            assert_eq!(report, again, "seed {seed} is not deterministic");
            // Restoring the core from a snapshot must change nothing it does.
            let config = SimulationConfig {
                restore_snapshots: false,
                ..SimulationConfig::new(seed, steps)
            };
            let unrestored = run(config).unwrap_or_else(|v| panic!("{v}"));
            assert_eq!(
                report.trace_hash, unrestored.trace_hash,
                "seed {seed}: a snapshot restore changed the trace"
            );
        }
    }
    // The harness must actually exercise the agent, or the invariants prove nothing.
    assert!(
        commands > seeds.len() as u64 * 10,
        "only {commands} commands over {} seeds",
        seeds.len()
    );
    assert!(
        converged >= seeds.len() as u64,
        "convergence was checked only {converged} times"
    );
    println!(
        "{} seeds x {steps} steps: {commands} commands, {converged} convergence checks",
        seeds.len()
    );
}

#[test]
fn simulation_without_faults_converges_at_every_quiet_step() {
    for seed in 1..=50 {
        let report = run(SimulationConfig {
            faults: false,
            ..SimulationConfig::new(seed, 200)
        })
        .unwrap_or_else(|v| panic!("{v}"));
        assert!(
            report.convergence_checks > 50,
            "seed {seed}: only {} quiet steps",
            report.convergence_checks
        );
    }
}
