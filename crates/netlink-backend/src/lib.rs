//! The kernel side of nsagent: applies the core's commands to the running Linux kernel over
//! rtnetlink, in any network namespace, reads namespaces back for resync, and watches for
//! namespaces coming and going and for links changed by others. Rule chains (iptables) are
//! written and read with the host's iptables-restore and iptables-save, run in the namespace;
//! checksum offloading through ethtool's generic netlink family.
//!
//! Every namespace gets one NETLINK_ROUTE socket, opened inside it by a short-lived thread so
//! that no thread of the agent ever runs in a foreign namespace. Commands for one namespace are
//! pipelined on its socket, and namespaces are worked on in parallel. Veth peers are created
//! directly in their namespace (the peer's namespace fd travels in the RTM_NEWLINK request),
//! never created and then moved, which the kernel makes slow.

mod backend;
mod bridge;
mod echo;
mod ethtool;
mod fdb;
mod firewall;
mod known;
mod macvlan;
mod message;
mod namespace;
mod observe;
mod rule;
mod socket;
mod tap;
mod vxlan;
mod watch;

pub use backend::{NetlinkBackend, SocketCache};
pub use namespace::identity_of;
pub use watch::{NamespaceEvent, Watcher};

#[cfg(test)]
mod tests {
    /// The daemon moves the backend and the watcher to threads of its choosing.
    #[test]
    fn handles_can_move_between_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<crate::NetlinkBackend>();
        send_sync::<crate::SocketCache>();
        send_sync::<crate::Watcher>();
        send_sync::<crate::NamespaceEvent>();
    }
}
