//! Simulated containers: a label, a container id and the pid whose namespace they run in.

use nsagent_core::{Event, Netns};
use serde::{Deserialize, Serialize};

/// A running simulated container, with what a harness needs to tell the core about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Microservice {
    pub label: String,
    pub container_id: String,
    pub pid: u32,
}

impl Microservice {
    /// The namespace the container's processes live in.
    pub fn netns(&self) -> Netns {
        Netns::Pid(self.pid)
    }

    /// The event the Docker watcher would send when this container starts.
    pub fn started_event(&self) -> Event {
        Event::MicroserviceStarted {
            label: self.label.clone(),
            container_id: self.container_id.clone(),
            pid: self.pid,
            duplicates: Vec::new(),
        }
    }

    /// The event the Docker watcher would send when this container stops.
    pub fn stopped_event(&self) -> Event {
        Event::MicroserviceStopped {
            label: self.label.clone(),
            container_id: self.container_id.clone(),
        }
    }
}
