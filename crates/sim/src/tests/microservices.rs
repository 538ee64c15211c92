//! Microservices: fresh pids, their namespaces, starting, stopping and restarting.

use super::*;

#[test]
fn a_started_microservice_gets_a_fresh_pid_and_its_namespace() {
    let mut k = SimKernel::default();
    let ms1 = k.start_microservice("ms1").expect("start");
    let ms2 = k.start_microservice("ms2").expect("start");
    assert_eq!((ms1.pid, ms2.pid), (10_000, 10_001));
    assert_ne!(ms1.container_id, ms2.container_id);
    assert!(k.contains_namespace(&Netns::Pid(ms1.pid)));
    assert_eq!(k.microservice("ms1"), Some(&ms1));
    assert_eq!(k.microservices(), vec![ms1.clone(), ms2]);
    assert_eq!(
        ms1.started_event(),
        Event::MicroserviceStarted {
            label: "ms1".into(),
            container_id: ms1.container_id.clone(),
            pid: 10_000,
            duplicates: vec![]
        }
    );
    assert_eq!(
        ms1.stopped_event(),
        Event::MicroserviceStopped {
            label: "ms1".into(),
            container_id: ms1.container_id.clone()
        }
    );
}

#[test]
fn microservice_pids_skip_namespaces_that_exist() {
    let mut k = SimKernel::default();
    k.appear(Netns::Pid(10_000)).expect("appear");
    assert_eq!(k.start_microservice("ms").expect("start").pid, 10_001);
}

#[test]
fn starting_a_running_microservice_or_stopping_a_stopped_one_is_an_error() {
    let mut k = SimKernel::default();
    k.start_microservice("ms").expect("start");
    assert_eq!(
        k.start_microservice("ms"),
        Err(SimError::AlreadyRunning("ms".into()))
    );
    k.stop_microservice("ms").expect("stop");
    assert_eq!(
        k.stop_microservice("ms"),
        Err(SimError::NotRunning("ms".into()))
    );
    assert_eq!(
        k.restart_microservice("ms"),
        Err(SimError::NotRunning("ms".into()))
    );
}

#[test]
fn stopping_a_microservice_vanishes_its_namespace_and_veth_peers() {
    let mut k = SimKernel::default();
    let ms = k.start_microservice("ms").expect("start");
    veth(&mut k, &Netns::Default, "h0", &ms.netns(), "eth0");
    let stopped = k.stop_microservice("ms").expect("stop");
    assert_eq!(stopped, ms);
    assert!(!k.contains_namespace(&ms.netns()));
    assert!(!has_link(&k, &Netns::Default, "h0"));
}

#[test]
fn restarting_a_microservice_gives_a_new_pid_and_an_empty_namespace() {
    let mut k = SimKernel::default();
    let ms = k.start_microservice("ms").expect("start");
    veth(&mut k, &Netns::Default, "h0", &ms.netns(), "eth0");
    let (old, new) = k.restart_microservice("ms").expect("restart");
    assert_eq!(old, ms);
    assert_ne!(new.pid, old.pid);
    assert_ne!(new.container_id, old.container_id);
    assert!(!k.contains_namespace(&old.netns()));
    assert!(!has_link(&k, &new.netns(), "eth0") && has_link(&k, &new.netns(), "lo"));
    assert!(!has_link(&k, &Netns::Default, "h0"));
}

#[test]
fn stopping_a_microservice_whose_namespace_already_vanished_works() {
    let mut k = SimKernel::default();
    let ms = k.start_microservice("ms").expect("start");
    k.vanish(&ms.netns()).expect("vanish");
    assert_eq!(k.stop_microservice("ms"), Ok(ms));
}
