//! The LRU cache of loaded models and the counters `ping` reports.

use std::num::NonZeroUsize;
use std::sync::Arc;

use lru::LruCache;
use sidecar_protocol::CacheStats;
use tracing::{debug, info};

use crate::error::ServeError;
use crate::mlmodel::{self, LoadedModel};

/// Loaded models keyed by the `model_path` of the request, as sent.
pub struct ModelCache {
    /// The models, least recently used first out.
    models: LruCache<String, Arc<LoadedModel>>,
    /// Counters since start; `entries` and `capacity` are filled in by
    /// [`ModelCache::stats`].
    counters: CacheStats,
}

impl ModelCache {
    /// Creates an empty cache of at most `capacity` models.
    pub fn new(capacity: NonZeroUsize) -> ModelCache {
        ModelCache {
            models: LruCache::new(capacity),
            counters: CacheStats::default(),
        }
    }

    /// Returns the model at `model_path`, loading it on a miss. The flag is
    /// true when the model was already loaded.
    ///
    /// Loading happens with the cache borrowed, so two requests for the same
    /// model never load it twice; fixture models are small files.
    pub fn get_or_load(
        &mut self,
        model_path: &str,
    ) -> Result<(Arc<LoadedModel>, bool), ServeError> {
        if let Some(model) = self.models.get(model_path) {
            self.counters.hits += 1;
            debug!(model_path, "model served from the cache");
            return Ok((Arc::clone(model), true));
        }

        let model = Arc::new(mlmodel::load(model_path)?);
        self.counters.loads += 1;
        info!(model_path, "model loaded");
        if let Some((evicted, _)) = self.models.push(model_path.to_owned(), Arc::clone(&model)) {
            self.counters.evictions += 1;
            info!(model_path = %evicted, "model evicted from the cache");
        }
        Ok((model, false))
    }

    /// Returns the counters of the `ping` response.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            entries: self.models.len() as u64,
            capacity: self.models.cap().get() as u64,
            ..self.counters
        }
    }
}
