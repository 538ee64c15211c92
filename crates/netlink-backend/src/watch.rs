pub struct Watcher;
pub enum NamespaceEvent {}
