//! What the binary hands every stage: [`StageContext`].
//!
//! A stage crate exposes one entry, `pub async fn stage(ctx: StageContext)`,
//! that reads its section of the configuration, builds its handler and runs
//! it with [`crate::runner::run`] until `ctx.shutdown` fires. The binary keeps
//! one table of (name, entry) and only composes.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Arc;

use switchboard_core::config::Config;
use switchboard_store::Store;
use tokio_util::sync::CancellationToken;

use crate::Bus;

/// Everything a stage needs from the process that runs it.
#[derive(Clone)]
pub struct StageContext {
    pub config: Arc<Config>,
    pub bus: Arc<dyn Bus>,
    pub store: Store,
    pub shutdown: CancellationToken,
    /// Things the process opened once and shares between components (the
    /// knowledge-base index, which the API searches and two stages keep
    /// current), looked up by type.
    pub resources: Resources,
}

impl std::fmt::Debug for StageContext {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("StageContext").field("backend", &self.bus.backend()).finish_non_exhaustive()
    }
}

/// A small map from type to one shared value of that type.
#[derive(Clone, Default)]
pub struct Resources {
    values: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
}

impl std::fmt::Debug for Resources {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Resources").field("count", &self.values.len()).finish()
    }
}

impl Resources {
    /// Adds (or replaces) the shared value of type `T`.
    pub fn insert<T: Send + Sync + 'static>(&mut self, value: Arc<T>) {
        self.values.insert(TypeId::of::<T>(), value);
    }

    /// The shared value of type `T`, if the process opened one.
    pub fn get<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        self.values.get(&TypeId::of::<T>()).cloned().and_then(|value| value.downcast::<T>().ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_are_found_by_type() {
        let mut resources = Resources::default();
        resources.insert(Arc::new(42_u32));
        resources.insert(Arc::new(String::from("index")));
        assert_eq!(resources.get::<u32>().as_deref(), Some(&42));
        assert_eq!(resources.get::<String>().as_deref().map(String::as_str), Some("index"));
        assert!(resources.get::<u64>().is_none());
    }
}
