//! [`LogRecorder`]: a `tracing` subscriber that keeps every event and span as text.

use std::fmt;
use std::sync::{Arc, Mutex};

use super::lock;

/// A `tracing` subscriber that records every span and event, at every level down to TRACE, as a
/// line of text (`name field=value ...`). Install it for a test with
/// `tracing::subscriber::set_default(recorder.clone())` on a current-thread runtime.
#[derive(Clone, Default)]
pub struct LogRecorder(Arc<Mutex<Vec<String>>>);

impl fmt::Debug for LogRecorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogRecorder")
            .field("lines", &lock(&self.0).len())
            .finish()
    }
}

impl LogRecorder {
    /// Every line recorded so far.
    #[must_use]
    pub fn lines(&self) -> Vec<String> {
        lock(&self.0).clone()
    }

    fn push(&self, line: String) {
        lock(&self.0).push(line);
    }
}

struct Fields<'a>(&'a mut String);

impl tracing::field::Visit for Fields<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
        self.0.push_str(&format!("{}={value:?} ", field.name()));
    }
}

impl tracing::Subscriber for LogRecorder {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        let mut line = format!("span {} ", span.metadata().name());
        span.record(&mut Fields(&mut line));
        self.push(line);
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, values: &tracing::span::Record<'_>) {
        let mut line = String::from("record ");
        values.record(&mut Fields(&mut line));
        self.push(line);
    }
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut line = format!("{} ", event.metadata().level());
        event.record(&mut Fields(&mut line));
        self.push(line);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}
