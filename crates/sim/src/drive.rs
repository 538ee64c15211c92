//! The simplest driver loop, for tests, benchmarks and tools. It lives beside the simulated
//! kernel rather than in the core because driving is I/O policy: the core only answers events,
//! and the daemon has its own loop, since it logs each result before feeding it back.

use nsagent_core::{Backend, Core, Event, Timestamp};

/// Applies every queued command through `backend` and feeds the results back, and answers the
/// core's requests for iptables tables (`Core::poll_chain_resync`), until the core has nothing
/// more to do at time `at`. Returns how many commands were applied. Commands are
/// applied in batches of whatever is queued, as the daemon does, so that batching backends are
/// measured the way they run.
pub fn run_until_idle(core: &mut Core, backend: &mut dyn Backend, at: Timestamp) -> usize {
    let mut applied = 0;
    let mut batch = Vec::new();
    loop {
        batch.clear();
        while let Some(cmd) = core.poll_command() {
            batch.push(cmd);
        }
        if batch.is_empty() {
            let Some(wanted) = core.poll_chain_resync() else {
                return applied;
            };
            match backend.observe_chains(&wanted) {
                Ok(snapshot) => core.handle(at, Event::ChainsObserved(snapshot)),
                Err(_) => return applied,
            }
            continue;
        }
        let results = backend.apply_batch(&batch);
        for (cmd, result) in batch.iter().zip(results) {
            applied += 1;
            core.handle(at, Event::command_result(cmd.id, result));
        }
    }
}
